"""Drop-in replacements for abandoned packages: :mod:`sphere_study.compat.s2cnn`."""
