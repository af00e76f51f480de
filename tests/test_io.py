"""The one atomic-write helper that every cache, download and result writer uses."""

import os
import stat

import pytest

from sphere_study._io import atomic_path, atomic_write, atomic_write_json


def test_finished_file_has_umask_permissions_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "mkstemp's 0o600 would hide a shared cache from other users"


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(path, suffix=".part") as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_folder_at_the_destination_is_named(tmp_path):
    """Issue 12: a cache path that is a folder gives an error naming it, not the temporary file."""
    (tmp_path / "cache.pt").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        atomic_write(tmp_path / "cache.pt", lambda tmp: tmp.write_text("x"))
    assert info.value.filename == str(tmp_path / "cache.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["cache.pt"]  # no temporary file left
