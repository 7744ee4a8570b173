"""Matrix products through oneDNN: bfloat16 rounding, the GEMMs against NumPy, bf16 autocast
of a SwinT against float64 references, and the fallbacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import swin_reference as ref
from assertions import randn
from conftest import require_or_skip, skip_unless_kernels_built
from test_swint_parity import CASES, layer_state, outputs, reference_output, with_configured_gains

from swint_cli import SwinT
from swint_cli.nn import functional as SF
from swint_cli.nn import kernels, precision, products
from swint_cli.nn.kernels import backend, onednn

rng = np.random.default_rng(0)
HERE = Path(__file__).parent


def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to an even last bit), as float64:
    of the two bfloat16 numbers around each value (its upper 16 bits, and the next one up in
    magnitude) the nearer is taken."""
    bits = np.asarray(x, np.float32).view(np.uint32)
    low = (bits & np.uint32(0xFFFF0000)).view(np.float32).astype(np.float64)
    high = ((bits & np.uint32(0xFFFF0000)) + np.uint32(0x10000)).view(np.float32)
    with np.errstate(invalid="ignore"):
        high = high.astype(np.float64)
    value = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):  # infinities are their own bfloat16 (low == value)
        below, above = np.abs(value - low), np.abs(high - value)
    even_low = ((bits >> np.uint32(16)) & np.uint32(1)) == 0
    nearer_low = (low == value) | (below < above) | ((below == above) & even_low)
    return np.where(nearer_low, low, high)


def bf16_values(t: paddle.Tensor) -> np.ndarray:
    """A bfloat16 tensor's values as float64 (its 16 bits are a float32's upper half)."""
    bits = t.numpy()  # Paddle gives bfloat16 tensors to NumPy as their uint16 bits
    assert bits.dtype == np.uint16
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)


@pytest.fixture
def gemms() -> None:
    skip_unless_kernels_built()
    reason = backend.unavailable("onednn")
    if reason is None and not hasattr(backend.library("onednn"), backend.BFLOAT16_GEMM):
        reason = f"oneDNN has no {backend.BFLOAT16_GEMM}"
    if reason is not None:
        require_or_skip("SWINT_REQUIRE_KERNELS", reason)


@pytest.fixture
def bf16(gemms: None) -> None:
    reason = backend.unavailable("bf16")
    if reason is not None:
        pytest.skip(reason)  # a CPU without bfloat16 instructions: fp32 is tested instead


def test_bf16_rounding_is_nearest_even_and_keeps_nan_and_inf(gemms: None) -> None:
    one = np.float32(1.0).view(np.uint32)
    halfway_even = np.uint32(one + 0x8000).view(np.float32)  # 1 + half an ulp: down to 1
    halfway_odd = np.uint32(one + 0x18000).view(np.float32)  # odd last bit: up
    specials = np.array(
        [halfway_even, halfway_odd, np.inf, -np.inf, 3.0e38, 1e-40, -0.0], np.float32
    )
    x = np.concatenate([specials, randn(rng, 1000) * 100])
    got = kernels.to_bfloat16(paddle.to_tensor(x))
    values = bf16_values(got)
    np.testing.assert_array_equal(values, bf16_round(x))
    assert values[0] == 1.0 and values[1] == float(np.uint32(one + 0x20000).view(np.float32))
    nan = bf16_values(kernels.to_bfloat16(paddle.to_tensor(np.array([np.nan, -np.nan], "f4"))))
    assert np.isnan(nan).all()


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_gemms_match_numpy_for_each_transpose(
    gemms: None, transpose_a: bool, transpose_b: bool
) -> None:
    a = randn(rng, 13, 7) if transpose_a else randn(rng, 7, 13)
    b = randn(rng, 5, 13) if transpose_b else randn(rng, 13, 5)
    op_a = a.T if transpose_a else a
    op_b = b.T if transpose_b else b
    out = paddle.empty([7, 5])
    onednn.gemm(paddle.to_tensor(a), paddle.to_tensor(b), out, transpose_a, transpose_b)
    exact = op_a.astype(np.float64) @ op_b.astype(np.float64)
    np.testing.assert_allclose(out.numpy(), exact, rtol=1e-5, atol=1e-5)
    low_a, low_b = (kernels.to_bfloat16(paddle.to_tensor(t)) for t in (a, b))
    onednn.gemm(low_a, low_b, out, transpose_a, transpose_b)
    rounded = bf16_round(op_a) @ bf16_round(op_b)  # bf16 inputs, exact accumulation
    np.testing.assert_allclose(out.numpy(), rounded, rtol=1e-5, atol=1e-5)
    assert np.abs(rounded - exact).max() > 1e-3  # the rounding is seen


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("n", [5, 16, 33, 64, 70])
def test_batched_products_match_numpy_at_every_width(
    gemms: None, transpose_a: bool, n: int, dtype: str
) -> None:
    """A 2 x 3 batch of (7 x 9) @ (9 x n) products read from strided matrices: widths of one
    to four 16-wide vectors (ragged or whole), and one past 64; 7 rows are a block of four
    and three single rows. bfloat16 operands are products of the bf16-rounded values, summed
    in float32."""
    a = randn(rng, 2, 3, 9, 7) if transpose_a else randn(rng, 2, 3, 7, 9)
    b_rows = randn(rng, 2, 3, 9, n + 2)
    operands = [paddle.to_tensor(t) for t in (a, b_rows)]
    if dtype == "bfloat16":
        operands = [kernels.to_bfloat16(t) for t in operands]
        a, b_rows = bf16_round(a), bf16_round(b_rows)
    b = b_rows[..., 1 : n + 1]  # rows n + 2 apart, starting one element in
    out = paddle.empty([2, 3, 7, n])
    onednn.batched_gemm(
        onednn.Matrices(operands[0], 3 * 63, 63, 7 if transpose_a else 9),
        onednn.Matrices(operands[1], 3 * 9 * (n + 2), 9 * (n + 2), n + 2, offset=1),
        onednn.Matrices(out, 3 * 7 * n, 7 * n, n),
        (2, 3),
        (7, n, 9),
        transpose_a=transpose_a,
    )
    op_a = np.swapaxes(a, -1, -2) if transpose_a else a
    exact = op_a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(out.numpy(), exact, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("transpose_a,transpose_b", [(False, True), (True, False), (False, False)])
def test_batched_bf16_products_match_numpy(
    bf16: None, transpose_a: bool, transpose_b: bool
) -> None:
    a = randn(rng, 2, 3, 6, 4)
    b = randn(rng, 2, 3, 5, 4) if transpose_b else randn(rng, 2, 3, 6 if transpose_a else 4, 5)
    low_a, low_b = (kernels.to_bfloat16(paddle.to_tensor(t)) for t in (a, b))
    out = products.product(low_a, low_b, transpose_a, transpose_b).numpy()
    op_a = np.swapaxes(bf16_round(a), -1, -2) if transpose_a else bf16_round(a)
    op_b = np.swapaxes(bf16_round(b), -1, -2) if transpose_b else bf16_round(b)
    np.testing.assert_allclose(out, op_a @ op_b, rtol=1e-5, atol=1e-5)


def test_fp32_linear_goes_through_onednn_and_matches_paddle(
    gemms: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = onednn.gemm
    monkeypatch.setattr(onednn, "gemm", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = paddle.to_tensor(randn(rng, 2, 9, 8), stop_gradient=False)
    layer = paddle.nn.Linear(8, 6)
    from swint_cli.nn.layers import Linear

    ours = Linear(8, 6)
    ours.set_state_dict(layer.state_dict())
    y = ours(x)
    y.backward(paddle.ones_like(y))
    assert len(calls) == 3  # forward, input gradient, weight gradient
    ours_grad = x.grad.numpy()
    x.clear_gradient()
    layer(x).backward(paddle.ones_like(y))
    np.testing.assert_allclose(y.numpy(), layer(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_grad, x.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ours.weight.grad.numpy(), layer.weight.grad.numpy(), rtol=1e-5, atol=1e-5
    )


# Head width 4: the attention scale is 1/2, so scaling q's weight columns before rounding them
# (as the layer does) rounds to what scaling after rounding gives (as the reference does).
BF16_CASES = ["window_equals_height_no_shift", "shifted_windows", "downsample_even_shifted"]


@pytest.mark.parametrize("name", BF16_CASES)
def test_bf16_forward_matches_a_numpy_reference_with_bf16_rounded_operands(
    bf16: None, name: str
) -> None:
    case = CASES[name]
    assert (case.c_in // case.heads) in (4, 16)
    layer, x = outputs(case)
    state = with_configured_gains(case, layer_state(layer))
    with precision.autocast("bf16"):
        out = layer(paddle.to_tensor(x)).numpy()
    with ref.rounded_operands(bf16_round):
        rounded = reference_output(case, state, x)
    exact = reference_output(case, state, x)
    scale = np.abs(exact).max()
    rounded_error = np.abs(out - rounded).max() / scale
    exact_error = np.abs(out - exact).max() / scale
    assert rounded_error < 2e-4
    assert 1e-3 < exact_error < 2e-2  # within bf16's tolerance of float32, and rounded


def test_one_bf16_training_step_matches_fp32_within_bf16_tolerance(bf16: None) -> None:
    """Forward, input gradient and every parameter gradient of a SwinT in bf16 against the
    same step in fp32: relative error under 2e-2 (bf16 keeps 8 significant bits)."""
    paddle.seed(3)
    layer = SwinT(16, 32, (8, 8), num_heads=4, window_size=4, downsample=True)
    x = paddle.to_tensor(randn(rng, 2, 16, 8, 8), stop_gradient=False)
    probe = paddle.to_tensor(randn(rng, 2, 32, 4, 4))
    results = []
    for chosen in ("fp32", "bf16"):
        layer.clear_gradients()
        x.clear_gradient()
        with precision.autocast(chosen) as used:
            assert used == chosen
            y = layer(x)
            (y * probe).sum().backward()
        grads = {n: p.grad.numpy() for n, p in layer.named_parameters()}
        results.append((y.numpy(), x.grad.numpy(), grads))
    (y32, dx32, g32), (y16, dx16, g16) = results

    def relative(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b).max() / np.abs(a).max())

    assert 1e-4 < relative(y32, y16) < 2e-2
    assert relative(dx32, dx16) < 2e-2
    for name in g32:
        assert relative(g32[name], g16[name]) < 3e-2, name


def test_bf16_mlp_matches_a_numpy_reference_with_bf16_rounded_operands(bf16: None) -> None:
    """The fused MLP under bf16: every product's operands rounded to bfloat16 (the hidden
    activations as its GELU pass writes them, the output gradients after GELU's gradient is
    applied), the bias gradients summed unrounded; forward and every gradient against
    float64 NumPy."""
    x, w1, b1, w2, b2, probe = (
        randn(rng, *shape) for shape in ((3, 4, 8), (8, 16), (16,), (16, 8), (8,), (3, 4, 8))
    )
    tensors = [paddle.to_tensor(t, stop_gradient=False) for t in (x, w1, b1, w2, b2)]
    with precision.autocast("bf16"):
        y = SF.mlp(tensors[0], tuple(tensors[1:]))
        (y * paddle.to_tensor(probe)).sum().backward()

    r = bf16_round
    rows, p = x.reshape(-1, 8), probe.reshape(-1, 8).astype(np.float64)
    pre = r(rows) @ r(w1) + b1
    hidden = r(ref.gelu(pre))
    pdf = np.exp(-0.5 * pre**2) / np.sqrt(2.0 * np.pi)
    dpre = (r(p) @ r(w2).T) * (ref.gelu(pre) / pre + pre * pdf)  # dhidden * gelu'(pre)
    expected = {
        "y": hidden @ r(w2) + b2,
        "x": r(dpre) @ r(w1).T,
        "w1": r(rows).T @ r(dpre),
        "b1": dpre.sum(0),
        "w2": hidden.T @ r(p),
        "b2": p.sum(0),
    }
    got = [y, *(t.grad for t in tensors)]
    for (name, want), value in zip(expected.items(), got, strict=True):
        value = value.numpy().reshape(want.shape)
        assert np.abs(value - want).max() < 1e-5 * np.abs(want).max(), name
    exact = np.asarray(ref.gelu(rows @ w1.astype(np.float64) + b1)) @ w2 + b2
    assert np.abs(y.numpy().reshape(exact.shape) - exact).max() > 1e-3 * np.abs(exact).max()


def test_bf16_keeps_fp32_parameters_and_gradients(bf16: None) -> None:
    layer = SwinT(8, 8, (4, 4), num_heads=2, window_size=2)
    x = paddle.to_tensor(randn(rng, 1, 8, 4, 4), stop_gradient=False)
    with precision.autocast("bf16"):
        y = layer(x)
        y.sum().backward()
    assert y.dtype == paddle.float32 and x.grad.dtype == paddle.float32
    assert {p.dtype for p in layer.parameters()} == {paddle.float32}
    assert {p.grad.dtype for p in layer.parameters()} == {paddle.float32}


def test_products_stay_fp32_on_a_cpu_without_bf16_instructions(
    probed_afresh: pytest.MonkeyPatch,
) -> None:
    probed_afresh.setattr(backend, "cpu_info", lambda field: "fpu sse2 avx2 avx512f")
    assert backend.cpu_bf16_flags() == []
    assert backend.unavailable("bf16") == (
        "bf16 products unavailable (this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16))"
    )
    with precision.autocast("bf16") as used:
        assert used == "fp32" and not precision.products_in_bf16()
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, got 'fp16'"):
        precision.effective("fp16")


def test_missing_onednn_falls_back_to_paddle_with_one_notice(
    probed_afresh: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    probed_afresh.setattr(backend, "onednn_library_path", lambda: None)
    layer = SwinT(8, 8, (4, 4), num_heads=2, window_size=2)
    x = paddle.to_tensor(randn(rng, 1, 8, 4, 4), stop_gradient=False)
    with precision.autocast("bf16") as used:
        for _ in range(2):
            layer(x).sum().backward()
    assert used == "fp32"
    assert backend.status()["onednn_gemms"] == "unavailable: no libdnnl.so.3 in Paddle's libs/"
    lines = capfd.readouterr().err.splitlines()
    assert lines == [
        "swint: oneDNN GEMMs unavailable (no libdnnl.so.3 in Paddle's libs/); using Paddle's matmul"
    ]


def test_gemms_survive_signals_handled_during_the_products(gemms: None) -> None:
    """oneDNN's f32 GEMM kernels run on a stack in the heap: a signal handled during one
    corrupted the heap within a second of SIGALRMs every 0.5 ms (a SIGTERM to a training did
    it too). Through swint's kernels, signals wait for the product to end. Two threads: the
    calling thread and a worker both run each product."""
    script = [sys.executable, str(HERE / "gemms_under_signals.py"), "2", "1.5"]
    try:
        done = subprocess.run(script, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the GEMMs under signals hung (a corrupted heap hangs Paddle's abort handler)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 500  # signals handled while the products ran
