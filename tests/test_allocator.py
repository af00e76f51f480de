"""The CPU allocator tuning that the sphere-study command applies before training."""

import platform

import pytest

from sphere_study._allocator import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_settings():
    assert keep_freed_memory() is True, "mallopt rejected the mmap or trim threshold"


def test_opt_out_keeps_the_defaults(monkeypatch):
    monkeypatch.setenv("SPHERE_STUDY_MALLOC", "default")
    assert keep_freed_memory() is False
