"""Layer options and the eval kernel cache under autocast / inference mode; 1×1 kernels are not
rescaled across scales."""

from __future__ import annotations

import math

import pytest
import torch

from gsepconv.groups import Sim2
from gsepconv.kernels import kernel_window, spatial_grid, transformed_offsets
from gsepconv.nn import GroupConv, LiftingConv

pytestmark = pytest.mark.usefixtures("single_thread")


def test_eval_cache_is_full_precision_under_autocast() -> None:
    torch.manual_seed(0)
    layer = LiftingConv("SE2", 1, 2, 5, 4).eval()
    x = torch.randn(1, 1, 9, 9)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = layer(x)
        assert all(w.dtype == torch.float32 for w in layer.weights())
        full = layer(x)  # fp32 after a bf16-autocast pass must not reuse bf16 kernels
    assert full.dtype == torch.float32 and torch.allclose(low.float(), full, atol=0.1)


def test_cache_filled_in_inference_mode_serves_autograd() -> None:
    torch.manual_seed(0)
    layer = LiftingConv("SE2", 1, 2, 5, 4).eval()
    for p in layer.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 1, 9, 9)
    with torch.inference_mode():
        layer(x)
    xi = x.clone().requires_grad_()
    layer(xi).sum().backward()  # input gradients through cached kernels
    assert xi.grad is not None and torch.isfinite(xi.grad).all()
    layer.clear_kernel_cache()
    assert layer._cache is None


def test_one_by_one_kernels_weigh_every_scale_equally() -> None:
    H = Sim2(max_scale=1.74).H
    _, w1 = transformed_offsets(H, H.grid((4, 3)), spatial_grid(*kernel_window(H, 1, (4, 3))), "hard")
    assert torch.equal(w1, torch.ones_like(w1))
    _, w5 = transformed_offsets(H, H.grid((4, 3)), spatial_grid(*kernel_window(H, 5, (4, 3))), "hard")
    assert math.isclose(float(w5[1].max()), 1 / 1.74 ** (2 / 2), rel_tol=1e-9)  # s = 1.319: 1/s²


def test_scale_options_and_grid_defaults_on_layers() -> None:
    lift = LiftingConv("Sim2", 1, 2, 5, (4, 2), max_scale=2.0, mask_sigma=0.5)
    assert lift.group.H.factors[1].max_scale == 2.0 and lift.group.H.factors[1].mask_sigma == 0.5
    conv = GroupConv(lift.group, 2, 3, 3, implementation="separable2d", grid=lift.grid)  # num_elements from the grid
    assert conv.num_elements == (4, 2)
    assert LiftingConv("R2xRplus", 1, 1, 3).num_elements == (3,)
    with pytest.raises(ValueError, match="by name"):
        GroupConv(lift.group, 2, 3, 3, grid=lift.grid, max_scale=3.0)
    with pytest.raises(ValueError, match="padding"):
        LiftingConv("SE2", 1, 1, 3, padding=(True, 1))


def test_export_under_autocast_samples_at_full_precision():
    torch.manual_seed(0)
    layer = LiftingConv("SE2", 1, 4, 5, 8).eval()
    x = torch.randn(2, 1, 20, 20)
    reference = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exported = layer.export()
    assert torch.allclose(exported(x), reference, rtol=1e-5, atol=1e-6)


def test_switches_are_scoped_to_their_block_and_thread():
    import threading

    from gsepconv.nn import conv as conv_module
    from gsepconv.nn import implementations, kernel_cache, memory_format

    seen = {}

    def other_thread():
        seen["cache"] = conv_module._CACHE_ENABLED.get()
        seen["format"] = implementations.current_format()

    with kernel_cache(False), memory_format(torch.contiguous_format):
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert conv_module._CACHE_ENABLED.get() is False
        assert implementations.current_format() == torch.contiguous_format
    assert seen == {"cache": True, "format": torch.channels_last}  # another thread is not affected
    assert conv_module._CACHE_ENABLED.get() is True and implementations.current_format() == torch.channels_last
    with pytest.raises(ValueError, match="torch.memory_format"):
        with memory_format("channels_last"):
            pass
