"""Convolutions through oneDNN's primitives against a NumPy reference of the definition, in
float32 and bfloat16, and how BatchedConv2D picks its path."""

from __future__ import annotations

import dataclasses

import numpy as np
import paddle
import pytest
from conftest import require_or_skip, skip_unless_kernels_built
from conv_reference import conv2d as reference_conv2d
from conv_reference import conv2d_grads
from test_matrix_products import bf16_round

from swint_cli.nn import batched_conv, convolution, precision
from swint_cli.nn.batched_conv import BatchedConv2D
from swint_cli.nn.kernels import backend, onednn_convolution, onednn_primitives

rng = np.random.default_rng(0)

# (batch, in, height, width, out, kernel, stride, padding, dilation, bias)
GEOMETRIES = {
    "stem_7x7_stride_2": (2, 3, 13, 12, 8, (7, 7), (2, 2), (3, 3), (1, 1), False),
    "3x3_with_bias": (2, 16, 6, 5, 24, (3, 3), (1, 1), (1, 1), (1, 1), True),
    "3x3_stride_2_odd_input": (3, 8, 9, 7, 16, (3, 3), (2, 2), (1, 1), (1, 1), False),
    "1x1_stride_2": (2, 16, 8, 6, 32, (1, 1), (2, 2), (0, 0), (1, 1), False),
    "dilated_with_bias": (1, 8, 7, 7, 8, (3, 3), (1, 1), (2, 2), (2, 2), True),
    "1x3_rectangular": (2, 4, 3, 8, 6, (1, 3), (1, 1), (0, 1), (1, 1), True),
}


@pytest.fixture
def onednn_conv() -> None:
    skip_unless_kernels_built()
    if not backend.enabled("onednn_conv"):
        require_or_skip("SWINT_REQUIRE_KERNELS", "oneDNN's convolution primitives")


def _case(geometry: tuple) -> tuple[np.ndarray, ...]:
    batch, cin, height, width, cout, kernel, *_, bias = geometry
    x = rng.standard_normal((batch, cin, height, width)).astype("float32")
    w = (rng.standard_normal((cout, cin, *kernel)) / np.sqrt(cin * np.prod(kernel))).astype(
        "float32"
    )
    b = rng.standard_normal(cout).astype("float32") if bias else None
    return x, w, b


def _run(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geometry: tuple, chosen: str):
    """conv2d's output and its (dx, dw, db) for a random output gradient, plus that gradient."""
    *_, stride, padding, dilation, _ = geometry
    tensors = [paddle.to_tensor(a, stop_gradient=False) for a in (x, w)]
    bias = paddle.to_tensor(b, stop_gradient=False) if b is not None else None
    with precision.autocast(chosen):
        y = convolution.conv2d(*tensors, bias, stride, padding, dilation)
    dy = rng.standard_normal(y.shape).astype("float32")
    y.backward(paddle.to_tensor(dy))
    grads = [t.grad.numpy() for t in tensors] + ([bias.grad.numpy()] if b is not None else [])
    return y.numpy(), grads, dy


def _close(got: np.ndarray, want: np.ndarray, tolerance: float, name: str) -> None:
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance * scale, err_msg=name)


@pytest.mark.parametrize("name", GEOMETRIES)
def test_fp32_output_and_gradients_match_the_definition(onednn_conv: None, name: str) -> None:
    geometry = GEOMETRIES[name]
    x, w, b = _case(geometry)
    y, grads, dy = _run(x, w, b, geometry, "fp32")
    settings = geometry[6:9]
    _close(y, reference_conv2d(x, w, b, *settings), 1e-5, "y")
    for got, want, what in zip(
        grads, conv2d_grads(x, w, dy, *settings), ("dx", "dw", "db"), strict=False
    ):
        _close(got, want, 1e-5, what)


@pytest.mark.parametrize("name", ["3x3_with_bias", "3x3_stride_2_odd_input", "1x1_stride_2"])
def test_bf16_rounds_the_operands_and_accumulates_in_fp32(onednn_conv: None, name: str) -> None:
    """Under bf16 autocast, the output equals the definition applied to bfloat16-rounded
    input and weight (products of two bfloat16 numbers are exact in float32), and each
    gradient the definition applied to rounded operands and a rounded output gradient."""
    reason = backend.unavailable("bf16")
    if reason is not None:
        pytest.skip(reason)
    geometry = GEOMETRIES[name]
    x, w, b = _case(geometry)
    y, grads, dy = _run(x, w, b, geometry, "bf16")
    settings = geometry[6:9]
    x_low, w_low, dy_low = (bf16_round(a) for a in (x, w, dy))
    exact = reference_conv2d(x, w, b, *settings)
    _close(y, reference_conv2d(x_low, w_low, b, *settings), 1e-5, "y")
    assert np.abs(y - exact).max() > 1e-4 * np.abs(exact).max()  # it did round
    dx, dw, db = conv2d_grads(x_low, w_low, dy_low, *settings)
    _close(grads[0], dx, 1e-5, "dx")
    _close(grads[1], dw, 1e-5, "dw")
    if b is not None:
        _close(grads[2], db, 1e-5, "db")


def test_a_frozen_input_gets_no_gradient_and_the_weight_its_own(onednn_conv: None) -> None:
    geometry = GEOMETRIES["stem_7x7_stride_2"]
    x, w, _ = _case(geometry)
    image, weight = paddle.to_tensor(x), paddle.to_tensor(w, stop_gradient=False)
    y = convolution.conv2d(image, weight, None, *geometry[6:9])
    dy = rng.standard_normal(y.shape).astype("float32")
    y.backward(paddle.to_tensor(dy))
    assert image.grad is None
    _close(weight.grad.numpy(), conv2d_grads(x, w, dy, *geometry[6:9])[1], 1e-5, "dw")


@pytest.mark.parametrize(
    ("kernel", "size", "onednn_on", "path"),
    [
        (3, 8, True, "onednn"),
        (3, 2, True, "onednn"),  # 3x3 onto a 2x2 map: oneDNN beats the batched GEMM
        (1, 2, True, "batched"),  # 1x1 onto 4 pixels: one GEMM over the batch wins
        (1, 3, True, "onednn"),
        (3, 4, False, "batched"),
        (3, 5, False, "paddle"),
    ],
)
def test_batched_conv_picks_the_measured_path(
    onednn_conv: None, kernel: int, size: int, onednn_on: bool, path: str
) -> None:
    conv = BatchedConv2D(4, 4, kernel, padding=kernel // 2)
    with backend.override(onednn_conv=onednn_on):
        assert batched_conv.route(conv, paddle.randn([2, 4, size, size])) == path


def test_missing_convolution_symbol_falls_back_with_one_notice(
    onednn_conv: None, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    needed = [*onednn_primitives.FUNCTIONS, "dnnl_no_such_function"]
    monkeypatch.setattr(onednn_primitives, "FUNCTIONS", needed)
    backend.probe_again()
    try:
        conv = BatchedConv2D(2, 3, 3, padding=1)
        x = paddle.randn([1, 2, 6, 6])
        want = paddle.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)
        for _ in range(2):
            np.testing.assert_allclose(conv(x).numpy(), want.numpy(), rtol=1e-6)
        assert not backend.enabled("onednn_conv")
    finally:
        monkeypatch.undo()
        backend.probe_again()
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("swint: oneDNN convolutions unavailable (")
    assert "has no dnnl_no_such_function); using Paddle's conv2d" in lines[0]


def test_shapes_beyond_the_kept_programs_rebuild_theirs(onednn_conv: None) -> None:
    """Programs are kept for the most recently used shapes only; a shape whose program was
    dropped (and its oneDNN objects destroyed) gets a new one with the same results."""
    w = rng.standard_normal((3, 2, 3, 3)).astype("float32")
    weight, same = paddle.to_tensor(w), ((1, 1), (1, 1), (1, 1))
    widths = [3 + i for i in range(onednn_convolution.PROGRAMS_KEPT + 4)]
    for width in [*widths, widths[0]]:
        x = rng.standard_normal((1, 2, 3, width)).astype("float32")
        y = convolution.conv2d(paddle.to_tensor(x), weight, None, *same)
        _close(y.numpy(), reference_conv2d(x, w, None, *same), 1e-5, f"width {width}")
    kept = onednn_convolution.forward_program.cache_info().currsize
    assert kept == onednn_convolution.PROGRAMS_KEPT


def test_implementations_name_each_step_and_bf16_runs_a_bf16_kernel(onednn_conv: None) -> None:
    geometry = onednn_convolution.Geometry(
        2, 16, 8, 8, 16, (3, 3), (1, 1), (1, 1), (1, 1), False, False
    )
    steps = onednn_convolution.implementations(geometry)
    assert len(steps["forward"]) >= 1 and len(steps["backward"]) >= 2
    assert all(name for names in steps.values() for name in names)
    if backend.unavailable("bf16") is None:
        low = onednn_convolution.implementations(dataclasses.replace(geometry, bfloat16=True))
        assert any("bf16" in name for name in low["forward"]), low
        assert not any("bf16" in name for name in steps["forward"]), steps
