"""The optional compiled CPU kernels: build and cache, fallback, and numerics against NumPy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import paddle
import pytest
from assertions import randn
from conftest import skip_unless_kernels_built

from swint_cli import SwinT
from swint_cli.nn import kernels
from swint_cli.nn.kernels import backend, build

rng = np.random.default_rng(0)


@pytest.fixture
def built() -> None:
    skip_unless_kernels_built()


def _erf(x: np.ndarray) -> np.ndarray:
    return np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)


def test_kernels_build_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWINT_CACHE_DIR", str(tmp_path))
    skip_unless_kernels_built()
    library, origin = build.load_library()
    assert library is not None, origin
    built_file = Path(origin)
    assert built_file.parent == tmp_path and built_file.suffix == ".so"
    stamp = built_file.stat().st_mtime_ns
    _, again = build.load_library()
    assert again == origin and built_file.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [built_file.name]  # no leftovers


def test_missing_compiler_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert build.load_library() == (None, "no C compiler (/nonexistent/cc) found")


def test_failed_compile_reports_the_compilers_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiler = tmp_path / "broken-cc"
    compiler.write_text("#!/bin/sh\necho 'cpu_kernels.c:1:1: error: no such thing' >&2\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    monkeypatch.setenv("SWINT_CACHE_DIR", str(tmp_path / "cache"))
    library, reason = build.load_library()
    assert library is None
    assert reason == f"{compiler} failed: cpu_kernels.c:1:1: error: no such thing"
    assert list((tmp_path / "cache").iterdir()) == []


def test_layer_falls_back_to_paddle_ops_with_one_notice(
    probed_afresh: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    probed_afresh.setenv("CC", "/nonexistent/cc")
    probed_afresh.setenv("SWINT_CACHE_DIR", "/nonexistent/cache")
    layer = SwinT(4, 4, num_heads=2, window_size=2)
    for _ in range(2):
        x = paddle.randn([1, 4, 4, 4])
        x.stop_gradient = False
        layer(x).sum().backward()
        assert x.grad.shape == [1, 4, 4, 4]
    lines = capfd.readouterr().err.splitlines()
    assert lines == [
        "swint: compiled CPU kernels unavailable (no C compiler (/nonexistent/cc) found); "
        "using Paddle ops"
    ]


def test_layer_norm_backward_matches_numpy_on_several_threads(
    built: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernels, "threads_in_use", lambda: 3)
    x = (5.0 + 3.0 * randn(rng, 37, 21)).astype(np.float64)  # 37 rows over 3 threads
    w, dy = 1.0 + 0.1 * randn(rng, 21), randn(rng, 37, 21)
    eps = 1e-5
    normed = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + eps)
    g = dy * w
    dx = (g - g.mean(1, keepdims=True) - normed * (g * normed).mean(1, keepdims=True)) / np.sqrt(
        x.var(1, keepdims=True) + eps
    )
    out = kernels.layer_norm_backward(*(paddle.to_tensor(a, "float32") for a in (x, w, dy)), eps)
    for got, want in zip(out, (dx, (dy * normed).sum(0), dy.sum(0)), strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_gelu_kernels_match_the_erf_formula(built: None) -> None:
    h = 4.0 * randn(rng, 7, 33)
    bias, dy = randn(rng, 33), randn(rng, 7, 33)
    z = (h + bias).astype(np.float64)
    cdf = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    pre = paddle.to_tensor(h)
    y = kernels.bias_gelu(pre, paddle.to_tensor(bias))
    np.testing.assert_allclose(pre.numpy(), z, rtol=1e-6, atol=1e-6)  # bias added in place
    np.testing.assert_allclose(y.numpy(), z * cdf, rtol=1e-5, atol=1e-6)
    expected = dy * (cdf + z * pdf)
    y, grad = kernels.bias_gelu_with_grad(paddle.to_tensor(h), paddle.to_tensor(bias))
    np.testing.assert_allclose(y.numpy(), z * cdf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad.numpy(), cdf + z * pdf, rtol=1e-5, atol=1e-6)
    dx, sums = kernels.output_grad(paddle.to_tensor(dy), grad, bfloat16=False, sums=True)
    np.testing.assert_allclose(dx.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sums.numpy(), expected.sum(axis=0), rtol=1e-5, atol=1e-5)


def test_gelu_is_exact_to_float_precision_from_minus_12_to_12(built: None) -> None:
    """Phi's approximation is within 1.5e-7 of erf's (Abramowitz and Stegun 7.1.26), about
    float32's own resolution: GELU within 2e-7 max(1, |v|) and its gradient within 3e-7 of
    the float64 erfc formula, at every point including the far lower tail."""
    v = np.linspace(-12.0, 12.0, 2401).astype("float32")
    z = v.astype(np.float64)
    cdf = 0.5 * np.frompyfunc(math.erfc, 1, 1)(-z / math.sqrt(2.0)).astype(np.float64)
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    y, grad = kernels.bias_gelu_with_grad(paddle.to_tensor(v.reshape(1, -1)), None)
    assert np.all(np.abs(y.numpy()[0] - z * cdf) <= 2e-7 * np.maximum(1.0, np.abs(z)))
    assert np.all(np.abs(grad.numpy()[0] - (cdf + z * pdf)) <= 3e-7)


def test_output_grad_rounds_to_bf16_and_sums_the_unrounded_rows(built: None) -> None:
    """Without GELU: the bf16 copy is dy rounded to nearest even (a tie goes to the even
    neighbour), the sums are dy's exact column sums; without sums none are made."""
    one = np.float32(1.0).view(np.uint32)
    dy = randn(rng, 300, 5)
    dy[0, 0] = np.uint32(one + 0x8000).view(np.float32)  # 1 + half a bf16 ulp: ties to 1
    dy[0, 1] = np.uint32(one + 0x18000).view(np.float32)  # odd neighbour below: rounds up
    g, sums = kernels.output_grad(paddle.to_tensor(dy), None, bfloat16=True, sums=True)
    bits = g.numpy().astype(np.uint32) << np.uint32(16)
    values = bits.view(np.float32)
    assert values[0, 0] == 1.0 and values[0, 1] == np.uint32(one + 0x20000).view(np.float32)
    np.testing.assert_allclose(values, dy, rtol=2**-8)
    np.testing.assert_allclose(sums.numpy(), dy.astype(np.float64).sum(axis=0), rtol=1e-6)
    same, none = kernels.output_grad(paddle.to_tensor(dy), None, bfloat16=False, sums=False)
    np.testing.assert_array_equal(same.numpy(), dy)
    assert none is None


def test_bias_softmax_accepts_a_transposed_view(built: None) -> None:
    scores, bias = randn(rng, 6, 4), randn(rng, 2, 6)
    view = paddle.to_tensor(scores).transpose([1, 0])  # (4, 6), a strided view on Paddle 3
    z = scores.T.reshape(2, 2, 6) + bias
    want = np.exp(z - z.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    got = kernels.bias_softmax(view, paddle.to_tensor(bias))
    np.testing.assert_allclose(got.numpy(), want.reshape(4, 6), rtol=1e-5, atol=1e-7)


def test_bias_softmax_adds_each_windows_mask_to_every_head(built: None) -> None:
    scores = 2.0 * randn(rng, 6, 2, 4, 4)  # 2 images x 3 windows, 2 heads, 4 tokens
    bias, mask = (
        randn(rng, 2, 4, 4),
        np.where(randn(rng, 3, 4, 4) > 0, 0.0, -100.0).astype("float32"),
    )
    z = scores + bias[None] + np.tile(mask, (2, 1, 1))[:, None]  # window w gets mask[w % 3]
    want = np.exp(z - z.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    probs, low = kernels.bias_softmax_pair(
        *(paddle.to_tensor(a) for a in (scores, bias)), False, paddle.to_tensor(mask)
    )
    np.testing.assert_allclose(probs.numpy(), want, rtol=1e-5, atol=1e-7)
    assert low is None


def test_softmax_backward_matches_numpy(built: None) -> None:
    p = np.exp(randn(rng, 5, 7))
    p /= p.sum(-1, keepdims=True)
    dp = randn(rng, 5, 7)
    want = p * (dp - (dp * p).sum(-1, keepdims=True))
    got = kernels.softmax_backward(paddle.to_tensor(p), paddle.to_tensor(dp))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_kernels_stand_aside_when_the_current_device_is_a_gpu(
    built: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = paddle.randn([2, 3])  # a CPU tensor; the kernels' outputs would go to the GPU
    assert backend.enabled("kernels", x)
    monkeypatch.setattr(paddle.device, "get_device", lambda: "gpu:0")
    assert not backend.enabled("kernels", x)


def test_swapping_the_last_axes_matches_numpy_on_ragged_tiles(built: None) -> None:
    """Sizes that are not multiples of the 32x32 tiles, forward and backward."""
    from swint_cli.nn import functional as SF

    x = randn(rng, 3, 45, 70)
    np.testing.assert_array_equal(
        kernels.swap_last_axes(paddle.to_tensor(x)).numpy(), x.transpose(0, 2, 1)
    )
    tokens = paddle.to_tensor(x, stop_gradient=False)
    probe = randn(rng, 3, 70, 45)
    (SF.permute(tokens, [0, 2, 1]) * paddle.to_tensor(probe)).sum().backward()
    np.testing.assert_array_equal(tokens.grad.numpy(), probe.transpose(0, 2, 1))
