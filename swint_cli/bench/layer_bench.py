"""The layer-level subject: one SwinT or one Conv2D(3x3, padding 1) on a random batch."""

from __future__ import annotations

import contextlib
import io
import math

import paddle
from paddle import nn

from ..nn import SwinT
from ..nn.precision import autocast, effective
from .measure import Subject

CONV_FLOPS_SOURCE = "conv formula"  # k*k*Cin*Cout*Ho*Wo, as model_flops counts a Conv2D
PADDLE_FLOPS_SOURCE = "paddle.flops"  # Paddle's counter (adds one op per output for the bias)
SWINT_FLOPS_SOURCE = "SwinT.flops"  # the analytic count


def paddle_conv_flops(layer: nn.Conv2D, size: int) -> int | None:
    """Paddle's own count for ``layer`` on one ``size x size`` image, or None where
    ``paddle.flops`` fails (it raises TypeError with NumPy >= 2.4, for any model)."""
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet):
            return int(paddle.flops(nn.Sequential(layer), [1, layer._in_channels, size, size]))
    except TypeError:
        return None


def _build(spec: dict) -> tuple[nn.Layer, int, str, dict[str, object]]:
    """The layer, its multiply-accumulates per image, their source and the settings used."""
    c_in, c_out, size = spec["in_channels"], spec["out_channels"], spec["resolution"]
    downsample = spec["downsample"]
    if spec["name"] == "SwinT":
        layer = SwinT(
            c_in,
            c_out,
            input_resolution=(size, size),
            num_heads=spec["heads"],
            window_size=spec["window_size"],
            downsample=downsample,
            recompute=bool(spec.get("recompute")),
        )
        settings = {"heads": layer.num_heads, "window_size": layer.window_size}
        return layer, layer.flops(size, size), SWINT_FLOPS_SOURCE, settings
    if spec["name"] != "Conv2D":
        raise ValueError(f"unknown layer {spec['name']!r} (expected SwinT or Conv2D)")
    stride = 2 if downsample else 1
    layer = nn.Conv2D(c_in, c_out, 3, stride=stride, padding=1)
    out = (size - 1) // stride + 1  # (size + 2 * padding - kernel) // stride + 1
    settings: dict[str, object] = {"heads": None, "window_size": None}
    counted = paddle_conv_flops(layer, size)
    if counted is not None:
        return layer, counted, PADDLE_FLOPS_SOURCE, settings
    # weight (C_out, C_in, 3, 3) applied at every output position
    flops = math.prod(layer.weight.shape[1:]) * c_out * out * out
    return layer, flops, CONV_FLOPS_SOURCE, settings


def layer_subject(spec: dict) -> Subject:
    """``spec["name"]`` (SwinT or Conv2D) at ``resolution`` with ``in_channels`` ->
    ``out_channels`` (stride 2 / PatchMerging when ``downsample``), on a random batch of
    ``batch_size``, its products in ``precision``, recomputing its activations when
    ``recompute``. The training step is forward then backward of a random output gradient
    (the input's gradient included, as for a layer inside a network)."""
    layer, flops, source, settings = _build(spec)
    size, amp, chosen = spec["resolution"], spec["amp"], spec.get("precision", "fp32")
    x = paddle.randn([spec["batch_size"], spec["in_channels"], size, size])
    x.stop_gradient = False
    grads: list[paddle.Tensor] = []

    def forward() -> paddle.Tensor:
        with paddle.amp.auto_cast(enable=amp), autocast(chosen):
            return layer(x)

    def train() -> None:
        layer.clear_gradients()
        x.clear_gradient()
        out = forward()
        if not grads:
            grads.append(paddle.randn(out.shape).astype(out.dtype))
        with autocast(chosen):
            out.backward(grads[0])

    settings["precision"] = effective(chosen)  # as run: fp32 where bf16 cannot run
    return Subject(layer, forward, train, flops, source, settings)
