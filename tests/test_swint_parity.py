"""SwinT against an independent NumPy derivation of the Swin paper (tests/swin_reference.py):
outputs, and gradients checked by central differences of the float64 reference."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import paddle
import pytest
import swin_reference as ref

from swint_cli import SwinT

State = dict[str, np.ndarray]  # SwinT parameter name -> float64 value


@dataclass(frozen=True)
class Case:
    c_in: int
    c_out: int
    heads: int
    window: int
    size: tuple[int, int]
    resample: str = ""  # "", "downsample" or "upsample"
    fixed: bool = False  # input_resolution given
    qkv_bias: bool = True
    qk_scale: float | None = None
    residual_norm: str = "pre"
    layer_scale: float | None = None

    def layer(self) -> SwinT:
        return SwinT(
            self.c_in,
            self.c_out,
            input_resolution=self.size if self.fixed else None,
            num_heads=self.heads,
            window_size=self.window,
            qkv_bias=self.qkv_bias,
            qk_scale=self.qk_scale,
            downsample=self.resample == "downsample",
            upsample=self.resample == "upsample",
            residual_norm=self.residual_norm,
            layer_scale=self.layer_scale,
        )


def randomise(layer: paddle.nn.Layer, seed: int = 0, keep: tuple[str, ...] = ()) -> None:
    """Give every parameter non-trivial values (norm weights and layer-scale gains around 1,
    the rest around 0), except those whose name contains one of ``keep``."""
    rng = np.random.default_rng(seed)
    for name, param in layer.named_parameters():
        if any(part in name for part in keep):
            continue
        around_one = ("norm" in name and name.endswith("weight")) or name.endswith("gamma")
        value = float(around_one) + 0.2 * rng.standard_normal(param.shape)
        if "relative_position_bias_table" in name:
            value = rng.standard_normal(param.shape)  # biases large enough to matter
        param.set_value(paddle.to_tensor(value, dtype=param.dtype))


def layer_state(layer: SwinT) -> State:
    return {name: p.numpy().astype("float64") for name, p in layer.named_parameters()}


def with_configured_gains(case: Case, state: State) -> State:
    """``state`` with every layer-scale gain at the case's ``layer_scale``: the value the layer
    was configured with, not the one read back from it."""
    return {
        name: np.full_like(value, case.layer_scale) if name.endswith("gamma") else value
        for name, value in state.items()
    }


def block_params(state: State, case: Case, index: int, window: int) -> dict[str, np.ndarray]:
    """The reference's parameter dict of block ``index``: the layer's names without their
    ``blocks.i.``, ``attn.`` and ``mlp.`` prefixes, a zero q/k/v bias when the layer has none,
    and the bias table cut to an effective ``window``."""
    prefix = f"blocks.{index}."
    params = {
        key.removeprefix(prefix).removeprefix("attn.").removeprefix("mlp."): value
        for key, value in state.items()
        if key.startswith(prefix)
    }
    params.setdefault("qkv.bias", np.zeros(3 * case.c_in))
    table = params["relative_position_bias_table"]
    full = (math.isqrt(table.shape[0]) + 1) // 2  # the window the table was built for
    if window < full:  # the central rows: offsets with |dh|, |dw| < window
        grid = table.reshape(2 * full - 1, 2 * full - 1, -1)
        lo, hi = full - window, full + window - 1
        params["relative_position_bias_table"] = grid[lo:hi, lo:hi].reshape(-1, table.shape[1])
    return params


def section(state: State, prefix: str) -> dict[str, np.ndarray] | None:
    found = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    return found or None


def reference_output(case: Case, state: State, x: np.ndarray) -> np.ndarray:
    window = min(case.window, *case.size)
    return ref.swint(
        x.astype("float64"),
        block_params(state, case, 0, window),
        block_params(state, case, 1, window),
        case.heads,
        case.window,
        qk_scale=case.qk_scale,
        downsample=case.resample == "downsample",
        p_merge=section(state, "merge."),
        p_proj=section(state, "proj."),
        p_expand=section(state, "expand."),
        post_norm=case.residual_norm != "pre",
    )


CASES = {
    "window_equals_height_no_shift": Case(8, 8, 2, 4, (4, 8), fixed=True),
    "shifted_windows": Case(8, 12, 2, 3, (9, 6), fixed=True),
    "padded_15x20": Case(8, 8, 2, 7, (15, 20)),
    "small_5x5_window_7": Case(8, 16, 4, 7, (5, 5)),
    "small_5x5_built_for_it": Case(8, 16, 4, 7, (5, 5), fixed=True),
    "downsample_odd_7x9": Case(8, 16, 2, 3, (7, 9), "downsample"),
    "downsample_even_shifted": Case(12, 24, 3, 2, (8, 8), "downsample", fixed=True),
    "upsample_swin_unet_halves_channels": Case(16, 8, 2, 3, (5, 7), "upsample"),
    "upsample_to_more_channels": Case(8, 12, 2, 2, (4, 4), "upsample", fixed=True),
    "qk_scale_given": Case(8, 8, 2, 3, (6, 6), qk_scale=0.7),
    "no_qkv_bias_with_qk_scale": Case(8, 12, 2, 3, (6, 9), qkv_bias=False, qk_scale=0.3),
    "post_norm_shifted": Case(8, 12, 2, 3, (9, 6), residual_norm="post"),
    "post_norm_padded_15x20": Case(8, 8, 2, 7, (15, 20), residual_norm="post"),
    "post_norm_downsample_odd": Case(8, 16, 2, 3, (7, 9), "downsample", residual_norm="post"),
    "layer_scale_pre_norm": Case(8, 8, 2, 3, (6, 6), layer_scale=1e-5),
}


def outputs(
    case: Case, seed: int = 0, keep: tuple[str, ...] = (), dtype: str = "float32"
) -> tuple[SwinT, np.ndarray]:
    layer = case.layer()
    randomise(layer, seed, keep)
    layer.eval()
    x = np.random.default_rng(1).standard_normal((2, case.c_in, *case.size)).astype(dtype)
    return layer, x


@contextmanager
def default_dtype(dtype: str) -> Iterator[None]:
    """Build layers with parameters of ``dtype`` inside the block."""
    previous = paddle.get_default_dtype()
    paddle.set_default_dtype(dtype)
    try:
        yield
    finally:
        paddle.set_default_dtype(previous)


@pytest.mark.parametrize("name", list(CASES))
def test_swint_matches_numpy_reference(name: str) -> None:
    """Layer-scale gains stay as built and the reference takes the configured value."""
    case = CASES[name]
    layer, x = outputs(case, keep=("gamma",))
    out = layer(paddle.to_tensor(x)).numpy()
    expected = reference_output(case, with_configured_gains(case, layer_state(layer)), x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)


def test_layer_scale_branches_add_the_configured_gain_times_the_branch() -> None:
    """In float64, where the branches' 1e-5-scaled sum is resolved (in float32 it is below the
    rounding of the O(1) residual stream): the layer adds to its input what the reference
    adds with every gain at 1e-5, so a gain of 0, 1 or 2e-5 is told apart."""
    case = CASES["layer_scale_pre_norm"]
    with default_dtype("float64"):
        layer, x = outputs(case, keep=("gamma",), dtype="float64")
    out = layer(paddle.to_tensor(x)).numpy()
    expected = reference_output(case, with_configured_gains(case, layer_state(layer)), x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out - x, expected - x, rtol=1e-7, atol=1e-12)


def test_shifted_block_differs_from_unshifted() -> None:
    """Guard for the reference comparison: the SW-MSA block's shift and mask change outputs."""
    layer = SwinT(8, 8, num_heads=2, window_size=3)
    randomise(layer)
    layer.eval()
    x = paddle.randn([1, 8, 9, 9])
    shifted = layer(x)
    layer.blocks[1].shift_size = 0
    assert not np.allclose(shifted.numpy(), layer(x).numpy(), atol=1e-3)


def test_post_norm_differs_from_pre_norm_with_the_same_parameters() -> None:
    """Guard: the two placements are different functions of the same weights."""
    pre, x = outputs(Case(8, 8, 2, 3, (6, 6)))
    post = Case(8, 8, 2, 3, (6, 6), residual_norm="post").layer()
    post.set_state_dict(pre.state_dict())
    post.eval()
    assert not np.allclose(pre(paddle.to_tensor(x)).numpy(), post(paddle.to_tensor(x)).numpy())


def test_post_zero_blocks_start_as_the_identity() -> None:
    layer = SwinT(8, 8, num_heads=2, window_size=3, residual_norm="post_zero", droppath=0.3)
    for block in layer.blocks:
        for norm in (block.norm1, block.norm2):
            assert not norm.weight.numpy().any() and not norm.bias.numpy().any()
    x = paddle.randn([2, 8, 7, 5])
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())  # training mode, drop path on


def test_post_norm_keeps_layer_norms_at_weight_one() -> None:
    layer = SwinT(8, 8, num_heads=2, window_size=3, residual_norm="post")
    for block in layer.blocks:
        np.testing.assert_array_equal(block.norm1.weight.numpy(), np.ones(8, "float32"))


def test_layer_scale_gains_start_at_the_init_value() -> None:
    layer = SwinT(8, 8, num_heads=2, window_size=3, layer_scale=1e-5)
    gains = [p for name, p in layer.named_parameters() if name.endswith("gamma")]
    assert len(gains) == 4  # two branches in each of the two blocks
    for gain in gains:
        np.testing.assert_allclose(gain.numpy(), np.full(8, 1e-5, "float32"))


# Gradients: every parameter and the input, along a random direction each, against the
# central difference of the reference's loss sum(out * probe) in float64.
GRADIENT_CASES = {
    "pre_norm_shifted_padded": (Case(8, 8, 2, 3, (5, 7)), ()),
    "pre_norm_downsample_no_shift": (Case(8, 12, 2, 4, (4, 6), "downsample"), ()),
    "post_norm_shifted_padded": (Case(8, 12, 2, 3, (5, 7), residual_norm="post"), ()),
    "post_norm_downsample_no_shift": (
        Case(8, 12, 2, 4, (4, 6), "downsample", residual_norm="post"),
        (),
    ),
    # Swin V2's init as built (norms at 0, so every block is the identity); the rest random.
    "post_zero_shifted_padded": (Case(8, 8, 2, 3, (5, 7), residual_norm="post_zero"), ("norm",)),
    "post_zero_downsample_no_shift": (
        Case(8, 12, 2, 4, (4, 6), "downsample", residual_norm="post_zero"),
        ("norm1", "norm2"),
    ),
    "layer_scale_shifted_padded": (Case(8, 8, 2, 3, (5, 7), layer_scale=0.5), ()),
}


def paddle_gradients(layer: SwinT, x: np.ndarray, probe: np.ndarray) -> State:
    inputs = paddle.to_tensor(x, stop_gradient=False)
    (layer(inputs) * paddle.to_tensor(probe)).sum().backward()
    grads = {name: p.grad.numpy().astype("float64") for name, p in layer.named_parameters()}
    return {**grads, "input": inputs.grad.numpy().astype("float64")}


def difference_quotient(case: Case, state: State, x: np.ndarray, probe: np.ndarray, name: str):
    """(d/dt loss(value + t * direction) at 0 by central difference, direction)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    base = x.astype("float64") if name == "input" else state[name]
    direction = rng.standard_normal(base.shape)
    step = 1e-6

    def loss(t: float) -> float:
        moved = base + t * direction
        if name == "input":
            return float((reference_output(case, state, moved) * probe).sum())
        return float((reference_output(case, {**state, name: moved}, x) * probe).sum())

    return (loss(step) - loss(-step)) / (2 * step), direction


@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_gradients_match_the_reference(name: str) -> None:
    case, keep = GRADIENT_CASES[name]
    layer, x = outputs(case, keep=keep)
    state = layer_state(layer)
    probe = np.random.default_rng(2).standard_normal(layer(paddle.to_tensor(x)).shape)
    grads = paddle_gradients(layer, x, probe)
    for param in [*state, "input"]:
        expected, direction = difference_quotient(case, state, x, probe, param)
        got = float((grads[param] * direction).sum())
        scale = max(1.0, abs(expected))
        assert abs(got - expected) <= 1e-4 * scale, (param, got, expected)
