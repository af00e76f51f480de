"""Wigner tables: agreement with lie_learn, representation identities, and the disk cache's validation."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sphere_study.harmonics import random_rotation, rotation_matrix, soft_wigner_d_table, wigner_D, wigner_d_rows
from sphere_study.harmonics._lie_learn import wigner_d_matrix
from sphere_study.harmonics._wigner import _table_path, so3_index

REPO = Path(__file__).resolve().parents[2]


def test_table_matches_lie_learn():
    """Every entry of the SOFT table equals lie_learn's wigner_d_matrix at the SOFT betas (exactly: same code)."""
    b = 4
    table = soft_wigner_d_table(b)
    betas = np.pi * (2 * np.arange(2 * b) + 1) / (4 * b)
    for l in range(b):
        for j, beta in enumerate(betas):
            block = table[j, so3_index(l, -l, -l) : so3_index(l, -l, -l) + (2 * l + 1) ** 2]
            assert np.array_equal(block, wigner_d_matrix(l, beta).ravel())
    assert not table.flags.writeable


def test_wigner_D_is_a_representation():
    """D^l(R1 R2) = D^l(R1) D^l(R2), D^l unitary; tolerance 1e-12."""
    R1, R2 = random_rotation(2, generator=torch.Generator().manual_seed(3))
    for l, (D12, D1, D2) in enumerate(zip(wigner_D(6, R1 @ R2), wigner_D(6, R1), wigner_D(6, R2), strict=True)):
        assert (D12 - D1 @ D2).abs().max() <= 1e-12, l
        assert (D1 @ D1.conj().T - torch.eye(2 * l + 1, dtype=D1.dtype)).abs().max() <= 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wigner_D_character(seed):
    """tr D^l(R) = sin((2l+1) theta/2) / sin(theta/2) for a rotation by angle theta; tolerance 1e-11."""
    R = random_rotation(generator=torch.Generator().manual_seed(seed))
    theta = math.acos((float(torch.trace(R)) - 1) / 2)
    for l, D in enumerate(wigner_D(8, R)):
        expected = math.sin((2 * l + 1) * theta / 2) / math.sin(theta / 2)
        assert abs(complex(torch.trace(D)) - expected) <= 1e-11


def test_D1_is_equivalent_to_the_rotation_matrix():
    """D^1(R) = U R U^H for one fixed unitary U and every R (D^1 is the vector representation); tolerance 1e-10."""
    Rs = random_rotation(3, generator=torch.Generator().manual_seed(5))
    I3 = torch.eye(3, dtype=torch.complex128)
    # U solves D(R_i) U = U R_i for R_1, R_2: the null space of (I (x) D - R^T (x) I) on vec(U) (column-major).
    A = torch.cat([torch.kron(I3, wigner_D(2, R)[1]) - torch.kron(R.T.contiguous().to(I3.dtype), I3) for R in Rs[:2]])
    _, s, Vh = torch.linalg.svd(A)
    assert s[-1] <= 1e-10 and s[-2] > 1e-3  # a one-dimensional space of intertwiners (Schur)
    U = Vh[-1].conj().reshape(3, 3).T * math.sqrt(3)
    assert (U @ U.conj().T - I3).abs().max() <= 1e-10
    R3 = Rs[2].to(I3.dtype)
    assert (wigner_D(2, Rs[2])[1] - U @ R3 @ U.conj().T).abs().max() <= 1e-10


def test_d_symmetries():
    """d^l_{-m,-n} = (-1)^(m-n) d^l_{mn} and d^l_{mn}(0) = delta_mn, used by the half-spectrum transforms."""
    rows = wigner_d_rows([0.0, 0.7], 5)
    for l in range(5):
        for m in range(-l, l + 1):
            for n in range(-l, l + 1):
                assert abs(rows[1, so3_index(l, -m, -n)] - (-1) ** (m - n) * rows[1, so3_index(l, m, n)]) <= 1e-13
                assert abs(rows[0, so3_index(l, m, n)] - float(m == n)) <= 1e-13
    assert rotation_matrix(0, 0, 0).allclose(torch.eye(3, dtype=torch.float64))


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder and no in-memory tables."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    soft_wigner_d_table.cache_clear()
    yield tmp_path
    soft_wigner_d_table.cache_clear()


def _rebuild_after(corrupt, b, caplog) -> np.ndarray:
    first = soft_wigner_d_table(b).copy()
    path = _table_path(b)
    assert path.exists()
    corrupt(path)
    soft_wigner_d_table.cache_clear()
    with caplog.at_level(logging.WARNING, logger="sphere_study.harmonics._wigner"):
        again = soft_wigner_d_table(b)
    assert "invalid" in caplog.text and "rebuilding" in caplog.text
    assert np.array_equal(again, first)
    return first


def test_cache_is_written_and_reused(fresh_cache, caplog):
    b = 3
    table = soft_wigner_d_table(b)
    path = _table_path(b)
    assert path.is_file() and str(path).startswith(str(fresh_cache))
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write leaves no temporary file behind
    soft_wigner_d_table.cache_clear()
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(soft_wigner_d_table(b), table)
    assert "invalid" not in caplog.text


def test_truncated_cache_is_rebuilt(fresh_cache, caplog):
    def truncate(path):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    _rebuild_after(truncate, 3, caplog)
    soft_wigner_d_table.cache_clear()
    assert _table_path(3).stat().st_size > 0 and soft_wigner_d_table(3).shape == (6, 35)


def test_bit_flipped_cache_is_rebuilt(fresh_cache, caplog):
    """One flipped byte in the table's data, in a file that is otherwise well formed: our CRC32 catches it."""

    def flip(path):
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["table"] = arrays["table"].copy()
        arrays["table"].reshape(-1).view(np.uint8)[17] ^= 0xFF
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    _rebuild_after(flip, 3, caplog)


def test_flipped_byte_in_file_is_rebuilt(fresh_cache, caplog):
    def flip(path):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    _rebuild_after(flip, 3, caplog)


def test_wrong_shape_cache_is_rebuilt(fresh_cache, caplog):
    def wrong_shape(path):
        with open(path, "wb") as f:
            np.savez(f, table=np.zeros((6, 10)), version=2, b=3, space="so3", spec_b=3, crc32=0)

    _rebuild_after(wrong_shape, 3, caplog)


def test_garbage_cache_is_rebuilt(fresh_cache, caplog):
    _rebuild_after(lambda path: path.write_bytes(b"not a numpy file"), 2, caplog)


@pytest.mark.parametrize("b,spec_b", [(6, 6), (9, 4)])
def test_tables_hold_only_what_a_transform_reads(fresh_cache, b, spec_b):
    """Per (space, grid bandwidth, spectral bandwidth): SO(3) the degrees < spec_b (a prefix of the full table), S²
    only the columns n = 0 of those degrees; both equal to the full table's entries exactly."""
    full = soft_wigner_d_table(b)
    so3 = soft_wigner_d_table(b, "so3", spec_b)
    assert np.array_equal(so3, full[:, : so3_index(spec_b, -spec_b, -spec_b)])
    s2 = soft_wigner_d_table(b, "s2", spec_b)
    assert s2.shape == (2 * b, spec_b**2)
    for l in range(spec_b):
        for m in range(-l, l + 1):
            assert np.array_equal(s2[:, l * l + m + l], full[:, so3_index(l, m, 0)])
    assert _table_path(b, "s2", spec_b).is_file() and _table_path(b, "so3", spec_b).is_file()


def test_s2_layer_at_b128_keeps_a_small_table(tmp_path):
    """s2cnn's SHREC17 input layer, S2Conv(1, 1, 128, 8) on a 256 x 256 image: process memory growth <= 0.5 GB over
    construction and a forward+backward, and a cache of < 1 MB (the full SO(3) table at b = 128 is 5.7 GB). Run in a
    fresh process so that its peak RSS is this layer's."""
    code = """
import resource, torch
from sphere_study.nn import S2Conv
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
conv = S2Conv(1, 1, 128, 8)
x = torch.rand(1, 1, 256, 256, requires_grad=True)
conv(x).sum().backward()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    growth = int(out.stdout.split()[-1])
    assert growth <= 0.5e9, f"S2Conv(1, 1, 128, 8) grew the process by {growth / 1e9:.2f} GB"
    cache = sum(p.stat().st_size for p in (tmp_path / "sphere_study" / "wigner").glob("*.npz"))
    assert 0 < cache < 1e6, f"Wigner cache of {cache / 1e6:.1f} MB"
