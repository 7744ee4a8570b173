"""HybridSwinT: a kept convolution plus a SwinT branch whose per-channel gain starts at 0."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
from conv_reference import conv2d
from paddle import nn

from swint_cli.models import SmallCNN, model_flops, replace_slots
from swint_cli.nn import HybridSwinT, SwinT
from swint_cli.recipe.schema import ReplaceRule


def numpy_conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """'same' 3x3 convolution (zero padding 1), float64: the shared NumPy reference."""
    return conv2d(x, weight, bias, (1, 1), (1, 1), (1, 1))


def hybrid(c_in: int = 8, c_out: int = 12) -> HybridSwinT:
    conv = nn.Conv2D(c_in, c_out, 3, padding=1)
    return HybridSwinT(conv, SwinT(c_in, c_out, num_heads=2, window_size=3))


def test_hybrid_starts_as_exactly_its_convolution() -> None:
    layer = hybrid()
    x = paddle.randn([2, 8, 7, 6])
    conv = layer.conv
    expected = numpy_conv3x3(x.numpy(), conv.weight.numpy(), conv.bias.numpy())
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5, rtol=1e-5)
    assert not layer.gain.numpy().any()


def test_hybrid_adds_the_swint_branch_scaled_per_channel() -> None:
    layer = hybrid()
    gain = np.linspace(-1.0, 2.0, 12).astype("float32")
    layer.gain.set_value(gain)
    x = paddle.randn([2, 8, 7, 6])
    conv = layer.conv
    branch = layer.swint(x).numpy()
    expected = numpy_conv3x3(x.numpy(), conv.weight.numpy(), conv.bias.numpy())
    expected += gain[None, :, None, None] * branch
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5, rtol=1e-5)


def test_at_zero_gain_only_the_gain_and_the_convolution_learn() -> None:
    layer = hybrid()
    x = paddle.randn([2, 8, 5, 5])
    probe = np.random.default_rng(0).standard_normal((2, 12, 5, 5)).astype("float32")
    (layer(x) * paddle.to_tensor(probe)).sum().backward()
    branch = layer.swint(x).numpy()
    np.testing.assert_allclose(
        layer.gain.grad.numpy(), (probe * branch).sum(axis=(0, 2, 3)), rtol=1e-4, atol=1e-4
    )
    for name, param in layer.swint.named_parameters():
        assert param.grad is None or not param.grad.numpy().any(), name
    assert np.abs(layer.conv.weight.grad.numpy()).sum() > 0


@pytest.mark.parametrize("slot", ["stage1.conv2", "stage2.conv1"])  # stride 1 and stride 2
def test_hybrid_rule_keeps_the_conv_and_starts_with_its_logits(slot: str) -> None:
    paddle.seed(3)
    model = SmallCNN(10)
    model.eval()
    x = paddle.randn([2, 3, 32, 32])
    before = model(x).numpy()
    conv = dict(model.named_sublayers())[slot]
    conv_flops = model_flops(model, 32)
    report = replace_slots(model, [ReplaceRule(slots=slot, window_size=4, hybrid=True)], 32)
    layer = dict(model.named_sublayers())[slot]
    assert isinstance(layer, HybridSwinT) and layer.conv is conv
    assert layer.swint.downsample == (slot == "stage2.conv1")
    assert report.swint_count == 1
    np.testing.assert_array_equal(model(x).numpy(), before)
    assert model_flops(model, 32) == conv_flops + layer.swint.flops(*layer.swint.input_resolution)
    assert f"{slot}.conv.weight" in model.state_dict() and f"{slot}.gain" in model.state_dict()


def test_rule_options_reach_the_blocks() -> None:
    model = SmallCNN(10)
    rule = ReplaceRule(slots="stage2.conv2", window_size=4, residual_norm="post", layer_scale=0.1)
    replace_slots(model, [rule], 32)
    swint = model.stage2.conv2
    assert swint.residual_norm == "post" and not swint.blocks[0].pre_norm
    np.testing.assert_allclose(swint.blocks[1].ls2.gamma.numpy(), np.full(128, 0.1, "float32"))
