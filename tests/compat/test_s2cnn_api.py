"""The drop-in's API surface: every s2cnn name and module path, ``register_as_s2cnn``, pair layouts and errors, and
autograd gradients equal to the backward s2cnn's autograd functions define (its ``for_grad`` transforms)."""

from __future__ import annotations

import importlib
import sys

import pytest
import torch

import sphere_study.compat.s2cnn as compat
from sphere_study.compat.s2cnn.soft.s2_fft import S2_fft_real, S2_ifft_real, s2_fft, s2_ifft
from sphere_study.compat.s2cnn.soft.so3_fft import SO3_fft_real, SO3_ifft_real, so3_fft, so3_ifft, so3_rfft, so3_rifft
from sphere_study.compat.s2cnn.utils.complex import as_complex, complex_mm, complex_sum

PUBLIC = {
    "": ["s2_rft", "so3_rft", "s2_mm", "so3_mm", "so3_sum_n", "S2Convolution", "SO3Convolution", "SO3Shortcut",
         "SO3ToS2", "so3_integrate", "so3_rotation", "s2_near_identity_grid", "s2_equatorial_grid", "s2_soft_grid",
         "so3_near_identity_grid", "so3_equatorial_grid", "so3_soft_grid"],
    ".soft": ["S2Convolution", "SO3Convolution", "SO3Shortcut", "SO3ToS2", "so3_integrate", "so3_rotation"],
    ".soft.so3_fft": ["so3_fft", "so3_rfft", "so3_ifft", "so3_rifft", "SO3_fft_real", "SO3_ifft_real"],
    ".soft.s2_fft": ["s2_fft", "s2_ifft", "S2_fft_real", "S2_ifft_real"],
    ".soft.s2_conv": ["S2Convolution"],
    ".soft.so3_conv": ["SO3Convolution", "SO3Shortcut"],
    ".soft.so3_to_s2": ["SO3ToS2"],
    ".soft.so3_integrate": ["so3_integrate"],
    ".soft.so3_rotation": ["so3_rotation"],
    ".s2_grid": ["s2_near_identity_grid", "s2_equatorial_grid", "s2_soft_grid"],
    ".so3_grid": ["so3_near_identity_grid", "so3_equatorial_grid", "so3_soft_grid"],
    ".s2_ft": ["s2_rft"],
    ".so3_ft": ["so3_rft"],
    ".s2_mm": ["s2_mm"],
    ".so3_mm": ["so3_mm"],
    ".so3_sum_n": ["so3_sum_n"],
    ".utils.complex": ["complex_mm", "as_complex", "complex_sum"],
}  # fmt: skip


@pytest.mark.parametrize("path", PUBLIC)
def test_every_s2cnn_module_path_and_name_exists(path):
    module = importlib.import_module("sphere_study.compat.s2cnn" + path)
    missing = [name for name in PUBLIC[path] if not hasattr(module, name)]
    assert not missing, f"s2cnn{path} lacks {missing}"


def test_register_as_s2cnn_resolves_plain_s2cnn_imports():
    saved = {k: v for k, v in sys.modules.items() if k == "s2cnn" or k.startswith("s2cnn.")}
    try:
        for key in saved:
            del sys.modules[key]
        compat.register_as_s2cnn()
        from s2cnn import SO3Convolution  # noqa: PLC0415
        from s2cnn.soft.so3_fft import so3_rfft as aliased  # noqa: PLC0415

        assert SO3Convolution is compat.SO3Convolution and aliased is so3_rfft
        assert importlib.import_module("s2cnn.utils.complex").complex_mm is complex_mm
        compat.register_as_s2cnn()  # idempotent
    finally:
        for key in [k for k in sys.modules if k == "s2cnn" or k.startswith("s2cnn.")]:
            del sys.modules[key]
        sys.modules.update(saved)


def test_register_as_s2cnn_refuses_when_another_s2cnn_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "s2cnn", type(sys)("s2cnn"))
    with pytest.raises(RuntimeError, match="another s2cnn is imported"):
        compat.register_as_s2cnn()


def test_layouts_of_the_transforms():
    x = torch.randn(3, 2, 8, 8, 8, dtype=torch.float64)
    X = so3_rfft(x, b_out=3)
    assert X.shape == (35, 3, 2, 2) and X.is_contiguous()  # [l*m*n, ..., complex]
    assert so3_fft(as_complex(x)).shape == (84, 3, 2, 2)
    assert so3_rifft(X).shape == (3, 2, 6, 6, 6) and so3_ifft(X, b_out=5).shape == (3, 2, 10, 10, 10, 2)
    assert torch.allclose(so3_rifft(so3_rfft(so3_rifft(X))), so3_rifft(X), atol=1e-12)
    s = torch.randn(2, 8, 8, dtype=torch.float64)
    S = s2_fft(as_complex(s), b_out=3)
    assert S.shape == (9, 2, 2) and s2_ifft(S, b_out=5).shape == (2, 10, 10, 2)
    assert torch.allclose(S2_fft_real.apply(s, 3), S, atol=1e-15)
    assert torch.allclose(S2_ifft_real.apply(S), s2_ifft(S)[..., 0], atol=1e-15)
    assert torch.allclose(SO3_ifft_real.apply(SO3_fft_real.apply(x, 3)), so3_rifft(X), atol=1e-15)


def test_bad_pair_layout_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"so3_fft input .* last axis has length 2"):
        so3_fft(torch.randn(8, 8, 8))
    with pytest.raises(ValueError, match=r"s2_mm x .* last axis has length 2"):
        compat.s2_mm(torch.randn(4, 1, 2, 3), torch.randn(4, 2, 1, 2))
    with pytest.raises(ValueError, match="complex_mm expects"):
        complex_mm(torch.randn(2, 3, 2), torch.randn(2, 3, 2))


@pytest.mark.parametrize("conj_x,conj_y", [(False, False), (True, False), (False, True), (True, True)])
def test_complex_mm_and_sum(conj_x, conj_y):
    x, y = torch.randn(3, 4, 2, dtype=torch.float64), torch.randn(4, 5, 2, dtype=torch.float64)
    xc, yc = torch.view_as_complex(x), torch.view_as_complex(y)
    expected = (xc.conj() if conj_x else xc) @ (yc.conj() if conj_y else yc)
    assert torch.allclose(torch.view_as_complex(complex_mm(x, y, conj_x, conj_y)), expected, atol=1e-14)
    assert torch.allclose(torch.view_as_complex(complex_sum(x, 1)), xc.sum(1), atol=1e-14)


def test_autograd_gives_s2cnns_backward():
    """s2cnn's SO3_fft_real / SO3_ifft_real / S2_fft_real / S2_ifft_real backward with its for_grad transforms; ours
    differentiate through our transforms: the gradients must agree (this also pins what for_grad means)."""
    torch.manual_seed(0)
    x = torch.randn(2, 8, 8, 8, dtype=torch.float64, requires_grad=True)
    G = torch.randn(35, 2, 2, dtype=torch.float64)
    (SO3_fft_real.apply(x, 3) * G).sum().backward()
    assert torch.allclose(x.grad, so3_ifft(G, for_grad=True, b_out=4)[..., 0], atol=1e-13)

    X = torch.randn(35, 2, 2, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 10, 10, 10, dtype=torch.float64)
    (SO3_ifft_real.apply(X, 5) * g).sum().backward()
    assert torch.allclose(X.grad, so3_rfft(g, for_grad=True, b_out=3), atol=1e-13)

    s = torch.randn(2, 8, 8, dtype=torch.float64, requires_grad=True)
    H = torch.randn(9, 2, 2, dtype=torch.float64)
    (S2_fft_real.apply(s, 3) * H).sum().backward()
    assert torch.allclose(s.grad, s2_ifft(H, for_grad=True, b_out=4)[..., 0], atol=1e-13)

    S = torch.randn(9, 2, 2, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 10, 10, dtype=torch.float64)
    (S2_ifft_real.apply(S, 5) * h).sum().backward()
    assert torch.allclose(S.grad, s2_fft(as_complex(h), for_grad=True, b_out=3), atol=1e-13)


def test_layers_have_s2cnns_parameters_and_contiguous_outputs():
    conv = compat.S2Convolution(2, 3, 6, 4, compat.s2_near_identity_grid())
    assert dict((k, tuple(v.shape)) for k, v in conv.named_parameters()) == {
        "kernel": (2, 3, 24),
        "bias": (1, 3, 1, 1, 1),
    }
    so3 = compat.SO3ToS2(3, 2, 4, 3, compat.so3_near_identity_grid(n_alpha=2, n_beta=1, n_gamma=2))
    assert tuple(so3.bias.shape) == (1, 2, 1, 1)
    y = conv(torch.randn(1, 2, 12, 12))
    assert y.is_contiguous() and so3(y).is_contiguous()
    assert y.view(1, 3, -1).shape == (1, 3, 512)  # s2cnn model code views layer outputs
    with pytest.raises(ValueError, match="S2Conv expects input"):
        conv(torch.randn(1, 2, 10, 10))
