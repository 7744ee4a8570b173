"""The hand-written forward and backward passes of swint_cli.nn.functional against Paddle's own
ops and autograd, with the compiled CPU kernels on and off."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
from assertions import randn
from conftest import skip_unless_kernels_built
from paddle.nn import functional as F

from swint_cli.nn import functional as SF
from swint_cli.nn.kernels import backend


@pytest.fixture(autouse=True, params=["kernels", "paddle-ops"])
def cpu_kernels(request: pytest.FixtureRequest):
    """Runs each test with the compiled kernels and with the pure Paddle path."""
    wanted = request.param == "kernels"
    if wanted:
        skip_unless_kernels_built()
    with backend.override(kernels=wanted):
        yield wanted


def _grads(fn, *inputs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output and input gradients of ``sum(fn(*inputs) * probe)`` for a fixed random probe."""
    tensors = [paddle.to_tensor(a, stop_gradient=False) for a in inputs]
    out = fn(*tensors)
    probe = paddle.to_tensor(np.random.default_rng(7).standard_normal(out.shape).astype("float32"))
    (out * probe).sum().backward()
    return out.numpy(), [t.grad.numpy() for t in tensors]


def _assert_same(custom, plain, *inputs: np.ndarray) -> None:
    out, grads = _grads(custom, *inputs)
    ref_out, ref_grads = _grads(plain, *inputs)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-4)


rng = np.random.default_rng(0)


def test_linear_backward_matches_autograd() -> None:
    _assert_same(SF.linear, F.linear, randn(rng, 3, 5, 6), randn(rng, 6, 4), randn(rng, 4))


def test_linear_without_bias_backward_matches_autograd() -> None:
    _assert_same(
        lambda x, w: SF.linear(x, w, None),
        lambda x, w: F.linear(x, w),
        randn(rng, 7, 6),
        randn(rng, 6, 4),
    )


def test_mlp_backward_matches_autograd() -> None:
    _assert_same(
        lambda x, w1, b1, w2, b2: SF.mlp(x, (w1, b1, w2, b2)),
        lambda x, w1, b1, w2, b2: F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2),
        *(randn(rng, 2, 5, 6), randn(rng, 6, 12), randn(rng, 12), randn(rng, 12, 6), randn(rng, 6)),
    )


def test_residual_adds_pass_the_gradient_to_both_inputs_through_a_chain() -> None:
    """Two residual branches in a row, each input used twice (as in a Swin block); the
    gradients against the chain rule worked out in NumPy."""
    x0, w1, w2, probe = randn(rng, 6, 4), randn(rng, 4, 4), randn(rng, 4, 4), randn(rng, 6, 4)
    x, a, b = (paddle.to_tensor(t, stop_gradient=False) for t in (x0, w1, w2))
    x1 = SF.add(x, paddle.matmul(x, a))
    x2 = SF.add(x1, paddle.matmul(x1, b))
    (x2 * paddle.to_tensor(probe)).sum().backward()

    x0, w1, w2, probe = (t.astype(np.float64) for t in (x0, w1, w2, probe))
    h1 = x0 + x0 @ w1
    np.testing.assert_allclose(x2.numpy(), h1 + h1 @ w2, rtol=1e-5, atol=1e-5)
    d1 = probe + probe @ w2.T  # gradient at x1
    np.testing.assert_allclose(x.grad.numpy(), d1 + d1 @ w1.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), x0.T @ d1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), h1.T @ probe, rtol=1e-5, atol=1e-5)


def test_residual_add_without_gradients_is_the_sum() -> None:
    x, y = randn(rng, 3, 5), randn(rng, 3, 5)
    with paddle.no_grad():
        out = SF.add(paddle.to_tensor(x), paddle.to_tensor(y))
    np.testing.assert_allclose(out.numpy(), x.astype(np.float64) + y, rtol=1e-6)


def test_layer_norm_backward_matches_autograd() -> None:
    x = 3.0 + 2.0 * randn(rng, 4, 5, 8)  # off-centre rows test the centring
    _assert_same(
        SF.layer_norm,
        lambda x, w, b: F.layer_norm(x, [8], w, b, 1e-5),
        x,
        1.0 + 0.1 * randn(rng, 8),
        randn(rng, 8),
    )


def test_linear_gelu_matches_gelu_of_linear() -> None:
    _assert_same(
        SF.linear_gelu,
        lambda x, w, b: F.gelu(F.linear(x, w, b)),
        2.0 * randn(rng, 3, 5, 6),
        randn(rng, 6, 19),  # 19 columns: not a multiple of the vector width
        randn(rng, 19),
    )


def test_linear_gelu_without_gradients_matches_gelu_of_linear() -> None:
    x, w, b = (paddle.to_tensor(a) for a in (randn(rng, 4, 6), randn(rng, 6, 9), randn(rng, 9)))
    np.testing.assert_allclose(
        SF.linear_gelu(x, w, b).numpy(), F.gelu(F.linear(x, w, b)).numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("bias_shape", [(3, 2, 5, 5), (2, 5, 5)])
def test_bias_softmax_matches_softmax_of_grouped_sum(bias_shape: tuple[int, ...]) -> None:
    scores = 3.0 * randn(rng, 6, 2, 5, 5)  # 2 images x 3 windows, or 6 windows with a shared bias

    def plain(s: paddle.Tensor, b: paddle.Tensor) -> paddle.Tensor:
        groups = 1 if b.ndim == 3 else b.shape[0]
        grouped = s.reshape([-1, groups, 2, 5, 5])
        return F.softmax((grouped + b.reshape([groups, 2, 5, 5])).reshape(s.shape), axis=-1)

    _assert_same(SF.bias_softmax, plain, scores, randn(rng, *bias_shape))


def test_crop_backward_matches_autograd() -> None:
    _assert_same(
        lambda x: SF.crop(x, 5, 3), lambda x: x[:, :5, :3, :] * 1.0, randn(rng, 2, 7, 6, 4)
    )


def test_custom_backward_is_skipped_without_gradients() -> None:
    x = paddle.randn([2, 3])
    with paddle.no_grad():
        assert not SF._use_custom_backward(x, paddle.randn([3, 3]))
    x.stop_gradient = False
    assert SF._use_custom_backward(x)
    with backend.override(custom_backward=False):
        assert not SF._use_custom_backward(x)


def test_swint_gradients_equal_with_and_without_custom_backward() -> None:
    from swint_cli import SwinT

    layer = SwinT(8, 12, num_heads=2, window_size=3, downsample=True)
    x = randn(rng, 2, 8, 7, 6)

    def run() -> dict[str, np.ndarray]:
        layer.clear_gradients()
        out, (dx,) = _grads(layer, x)
        grads = {n: p.grad.numpy() for n, p in layer.named_parameters()}
        return {"out": out, "x": dx, **grads}

    custom = run()
    with backend.override(custom_backward=False, kernels=False):
        plain = run()
    for name, value in plain.items():
        np.testing.assert_allclose(custom[name], value, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("residual_norm", ["pre", "post"])
def test_inputs_and_parameters_without_gradient_get_none(residual_norm: str) -> None:
    """An input that needs no gradient (a network's images) and a frozen parameter: the
    custom backward passes return None for them (Paddle refuses anything else) and the
    other gradients equal Paddle's autograd."""
    from swint_cli import SwinT

    layer = SwinT(8, 12, num_heads=2, window_size=3, residual_norm=residual_norm)
    layer.blocks[0].norm1.weight.stop_gradient = True
    layer.blocks[1].attn.qkv.weight.stop_gradient = True
    x = paddle.to_tensor(randn(rng, 2, 8, 7, 6))  # stop_gradient=True
    probe = paddle.to_tensor(randn(rng, 2, 12, 7, 6))

    def run() -> dict[str, np.ndarray | None]:
        layer.clear_gradients()
        (layer(x) * probe).sum().backward()
        return {n: None if p.grad is None else p.grad.numpy() for n, p in layer.named_parameters()}

    custom = run()
    assert x.grad is None
    assert custom["blocks.0.norm1.weight"] is None and custom["blocks.1.attn.qkv.weight"] is None
    with backend.override(custom_backward=False, kernels=False):
        plain = run()
    for name, value in plain.items():
        if value is None:
            assert custom[name] is None, name
        else:
            np.testing.assert_allclose(custom[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
