r"""Parameter checks shared by the data modules: each raises ``ValueError`` naming the parameter and its bad value."""

from __future__ import annotations

from collections.abc import Iterable

from ..harmonics import MAX_BANDWIDTH

#: Smallest bandwidth the data pipeline accepts: below it a 28-pixel digit is a handful of grid points.
MIN_BANDWIDTH = 4


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; bools and floats are rejected, numpy integers accepted."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value.__index__())
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "-inf" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value}")
    return value


def check_optional_int(value, name: str, minimum: int | None = None) -> int | None:
    return None if value is None else check_int(value, name, minimum)


def check_choice(value, name: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_bandwidth(value, name: str = "bandwidth") -> int:
    """A data bandwidth: an integer in ``[MIN_BANDWIDTH, MAX_BANDWIDTH]`` (the SOFT grid has 2b × 2b points)."""
    return check_int(value, name, MIN_BANDWIDTH, MAX_BANDWIDTH)
