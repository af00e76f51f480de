"""s2cnn's ``s2cnn.utils``: the complex-pair helpers (:mod:`.complex`)."""
