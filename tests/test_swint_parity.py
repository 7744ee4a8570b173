"""SwinT against an independent NumPy derivation of the Swin paper (tests/swin_reference.py)."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import swin_reference as ref

from swint_cli import SwinT

BLOCK_KEYS = (
    "norm1.weight",
    "norm1.bias",
    "attn.qkv.weight",
    "attn.qkv.bias",
    "attn.proj.weight",
    "attn.proj.bias",
    "attn.relative_position_bias_table",
    "norm2.weight",
    "norm2.bias",
    "mlp.fc1.weight",
    "mlp.fc1.bias",
    "mlp.fc2.weight",
    "mlp.fc2.bias",
)


def randomise(layer: paddle.nn.Layer, seed: int = 0) -> None:
    """Give every parameter non-trivial values (norm weights around 1, the rest around 0)."""
    rng = np.random.default_rng(seed)
    for name, param in layer.named_parameters():
        base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
        value = base + 0.2 * rng.standard_normal(param.shape)
        if "relative_position_bias_table" in name:
            value = rng.standard_normal(param.shape)  # biases large enough to matter
        param.set_value(value.astype("float32"))


def block_params(layer: SwinT, index: int, window: int) -> dict[str, np.ndarray]:
    """Reference parameter dict of block ``index``; the table cut to an effective ``window``."""
    state = {k: v.numpy().astype("float64") for k, v in layer.blocks[index].state_dict().items()}
    params = {key.removeprefix("attn.").removeprefix("mlp."): state[key] for key in BLOCK_KEYS}
    table = params["relative_position_bias_table"]
    full = layer.window_size
    if window < full:  # the central rows: offsets with |dh|, |dw| < window
        grid = table.reshape(2 * full - 1, 2 * full - 1, -1)
        lo, hi = full - window, full + window - 1
        params["relative_position_bias_table"] = grid[lo:hi, lo:hi].reshape(-1, table.shape[1])
    return params


def reference_output(layer: SwinT, x: np.ndarray, window: int) -> np.ndarray:
    merge = proj = expand = None
    if layer.merge is not None:
        merge = {
            "norm.weight": layer.merge.norm.weight.numpy(),
            "norm.bias": layer.merge.norm.bias.numpy(),
            "reduction.weight": layer.merge.reduction.weight.numpy(),
        }
    if layer.proj is not None:
        proj = {"weight": layer.proj.weight.numpy(), "bias": layer.proj.bias.numpy()}
    if layer.expand is not None:
        expand = {
            "expand.weight": layer.expand.expand.weight.numpy(),
            "norm.weight": layer.expand.norm.weight.numpy(),
            "norm.bias": layer.expand.norm.bias.numpy(),
        }
    return ref.swint(
        x.astype("float64"),
        block_params(layer, 0, window),
        block_params(layer, 1, window),
        layer.num_heads,
        layer.window_size,
        downsample=layer.downsample,
        p_merge=merge,
        p_proj=proj,
        p_expand=expand,
    )


CASES = {
    # name: (C_in, C_out, heads, window, H, W, True (downsample) / "upsample" / False,
    #        input_resolution given)
    "window_equals_height_no_shift": (8, 8, 2, 4, 4, 8, False, True),
    "shifted_windows": (8, 12, 2, 3, 9, 6, False, True),
    "padded_15x20": (8, 8, 2, 7, 15, 20, False, False),
    "small_5x5_window_7": (8, 16, 4, 7, 5, 5, False, False),
    "small_5x5_built_for_it": (8, 16, 4, 7, 5, 5, False, True),
    "downsample_odd_7x9": (8, 16, 2, 3, 7, 9, True, False),
    "downsample_even_shifted": (12, 24, 3, 2, 8, 8, True, True),
    "upsample_swin_unet_halves_channels": (16, 8, 2, 3, 5, 7, "upsample", False),
    "upsample_to_more_channels": (8, 12, 2, 2, 4, 4, "upsample", True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_swint_matches_numpy_reference(case: str) -> None:
    c_in, c_out, heads, window, h, w, resample, fixed = CASES[case]
    layer = SwinT(
        c_in,
        c_out,
        input_resolution=(h, w) if fixed else None,
        num_heads=heads,
        window_size=window,
        downsample=resample is True,
        upsample=resample == "upsample",
    )
    randomise(layer)
    layer.eval()
    x = np.random.default_rng(1).standard_normal((2, c_in, h, w)).astype("float32")

    out = layer(paddle.to_tensor(x)).numpy()
    expected = reference_output(layer, x, min(window, h, w))

    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)


def test_shifted_block_differs_from_unshifted() -> None:
    """Guard for the reference comparison: the SW-MSA block's shift and mask change outputs."""
    layer = SwinT(8, 8, num_heads=2, window_size=3)
    randomise(layer)
    layer.eval()
    x = paddle.randn([1, 8, 9, 9])
    shifted = layer(x)
    layer.blocks[1].shift_size = 0
    assert not np.allclose(shifted.numpy(), layer(x).numpy(), atol=1e-3)
