"""BatchedConv2D against paddle.nn.Conv2D: same outputs and gradients, same parameters (with
oneDNN's convolutions where they are found: its small maps take the batched GEMM or oneDNN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from swint_cli.models.backbones import build_backbone
from swint_cli.models.surgery import find_conv_slots
from swint_cli.nn import batched_conv
from swint_cli.nn.batched_conv import BatchedConv2D, batch_small_convs
from swint_cli.nn.kernels import backend


def _pair(**conv_args: object) -> tuple[paddle.nn.Conv2D, BatchedConv2D]:
    plain = paddle.nn.Conv2D(**conv_args)
    batched = BatchedConv2D(**conv_args)
    batched.set_state_dict(plain.state_dict())
    return plain, batched


def _forward_backward(conv: paddle.nn.Layer, x: np.ndarray) -> dict[str, np.ndarray]:
    inputs = paddle.to_tensor(x, stop_gradient=False)
    out = conv(inputs)
    probe = paddle.to_tensor(np.random.default_rng(1).standard_normal(out.shape), "float32")
    (out * probe).sum().backward()
    grads = {name: p.grad.numpy() for name, p in conv.named_parameters()}
    return {"out": out.numpy(), "x": inputs.grad.numpy(), **grads}


@pytest.mark.parametrize(
    ("conv_args", "size"),
    [
        ({"kernel_size": 1}, (4, 4)),  # pointwise: a plain reshape
        ({"kernel_size": 1, "stride": 2}, (4, 3)),  # ResNet's downsample shortcut
        ({"kernel_size": 3, "padding": 1}, (3, 5)),
        ({"kernel_size": 3, "stride": 2, "padding": 1}, (7, 7)),
        ({"kernel_size": 3, "padding": 2, "dilation": 2, "bias_attr": False}, (4, 4)),
        ({"kernel_size": (1, 3), "padding": (0, 1)}, (2, 6)),
    ],
)
def test_small_maps_match_conv2d_with_gradients(
    conv_args: dict[str, object], size: tuple[int, int]
) -> None:
    plain, batched = _pair(in_channels=5, out_channels=6, **conv_args)
    x = np.random.default_rng(0).standard_normal((3, 5, *size)).astype("float32")
    want, got = _forward_backward(plain, x), _forward_backward(batched, x)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_maps_over_the_limit_run_conv2d_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_unfold(*args: object, **kwargs: object) -> None:
        raise AssertionError("the batched path ran")

    monkeypatch.setattr(batched_conv.F, "unfold", no_unfold)
    plain, batched = _pair(in_channels=2, out_channels=3, kernel_size=3, padding=1)
    x = paddle.randn([1, 2, 5, 4])  # 20 output pixels > 16
    with backend.override(onednn_conv=False):  # oneDNN's path: its own test file
        np.testing.assert_allclose(batched(x).numpy(), plain(x).numpy(), rtol=1e-6)
        with pytest.raises(AssertionError, match="batched path"):
            batched(paddle.randn([1, 2, 4, 4]))


def test_backbone_convs_are_batched_with_unchanged_parameters_and_slots() -> None:
    model = build_backbone("resnet18", 10)
    reference = paddle.vision.models.resnet18(num_classes=10)
    convs = [layer for layer in model.sublayers() if isinstance(layer, paddle.nn.Conv2D)]
    assert convs and all(type(layer) is BatchedConv2D for layer in convs)
    assert model.state_dict().keys() == reference.state_dict().keys()
    assert len(find_conv_slots(model, 32)) == len(convs) == 20
    assert batch_small_convs(model) == 0  # already done


def test_static_graph_export_gives_the_dynamic_output(tmp_path: Path) -> None:
    model = paddle.nn.Sequential(
        BatchedConv2D(3, 4, 3, stride=2, padding=1), paddle.nn.ReLU(), BatchedConv2D(4, 2, 1)
    )
    model.eval()
    x = paddle.randn([2, 3, 6, 6])
    spec = [paddle.static.InputSpec([None, 3, 6, 6], "float32", "x")]
    path = str(tmp_path / "convs")
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), path)
    loaded = paddle.jit.load(path)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
