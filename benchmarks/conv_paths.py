"""Each convolution of a backbone timed on every CPU path: Paddle's ``conv2d``, the batched
GEMM (small maps), oneDNN's primitives in float32 and in bfloat16.

    python benchmarks/conv_paths.py --backbone resnet50 --batch 16 --resolution 64

Records the input of every ``Conv2D`` in one forward pass, then for each distinct
(shape, kernel, stride) times forward + backward (input and weight gradients) of that
convolution alone on each path, alternating paths within each repeat. Prints one row per
shape class with the median milliseconds, how many times the model uses it, and the
model-weighted totals.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

from swint_cli.runtime import prepare_environment

prepare_environment()  # MKL's code path must be chosen before Paddle loads

import paddle  # noqa: E402
from paddle import nn  # noqa: E402

from swint_cli import tune_cpu  # noqa: E402
from swint_cli.environment import cpu_model  # noqa: E402
from swint_cli.models.backbones import build_backbone  # noqa: E402
from swint_cli.nn import batched_conv, precision  # noqa: E402
from swint_cli.nn.kernels import backend  # noqa: E402


def shape_classes(model: nn.Layer, images: paddle.Tensor) -> Counter:
    """(input shape, Conv2D) of each distinct convolution in a forward pass, with counts."""
    seen: Counter = Counter()
    layers: dict[tuple, nn.Conv2D] = {}

    def record(layer: nn.Conv2D, inputs: tuple) -> None:
        key = (tuple(inputs[0].shape), tuple(layer.weight.shape), tuple(layer._stride))
        seen[key] += 1
        layers.setdefault(key, layer)

    hooks = [
        layer.register_forward_pre_hook(record)
        for layer in model.sublayers()
        if isinstance(layer, nn.Conv2D)
    ]
    with paddle.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    return Counter({(key, layers[key]): count for key, count in seen.items()})


def paths(layer: nn.Conv2D) -> dict[str, object]:
    """Path name -> a function running forward + backward of ``layer`` on an input."""

    def run(x: paddle.Tensor, mode: str) -> None:
        with precision.autocast("bf16" if mode.endswith("bf16") else "fp32"):
            y = batched_conv.compute(layer, x, mode.split()[0])
        y.backward(paddle.ones_like(y))

    return {mode: (lambda x, m=mode: run(x, m)) for mode in MODES}


MODES = ("paddle", "batched", "onednn fp32", "onednn bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    tune_cpu(args.threads)
    reason = backend.unavailable("onednn_conv")
    if reason is not None:
        raise SystemExit(f"{reason}: its path cannot be timed")
    model = build_backbone(args.backbone, 10)
    images = paddle.randn([args.batch, 3, args.resolution, args.resolution])
    classes = shape_classes(model, images)
    print(f"{args.backbone} B{args.batch}@{args.resolution}, {cpu_model()}, forward+backward ms")
    print(
        f"{'input':>20} {'weight':>20} {'stride':>6} {'uses':>4} "
        + " ".join(f"{m:>12}" for m in MODES)
    )
    totals = Counter()
    for ((shape, weight, stride), layer), uses in sorted(classes.items(), key=lambda kv: kv[0][0]):
        x = paddle.randn(list(shape))
        x.stop_gradient = shape[1] == 3  # the stem's input is the image
        runs = paths(layer)
        times = {mode: [] for mode in MODES}
        for repeat in range(args.repeat + 2):
            for mode, run in runs.items():
                start = time.perf_counter()
                run(x)
                if repeat >= 2:
                    times[mode].append((time.perf_counter() - start) * 1000)
        medians = {mode: statistics.median(t) for mode, t in times.items()}
        for mode, value in medians.items():
            totals[mode] += value * uses
        cells = " ".join(f"{medians[m]:12.2f}" for m in MODES)
        print(f"{shape!s:>20} {weight!s:>20} {stride[0]:>6} {uses:>4} {cells}")
    print(f"{'model total':>53} " + " ".join(f"{totals[m]:12.1f}" for m in MODES))


if __name__ == "__main__":
    main()
