"""Where a backbone's train step goes: Paddle's operator table for a few steps on the CPU.

    python benchmarks/backbone_profile.py --backbone resnet50 --batch 16 --resolution 64
    python benchmarks/backbone_profile.py --precision bf16 --profile 0   # timing only

One step is forward, cross-entropy, backward and a momentum update (10 classes, random
images and labels), on the model ``swint`` builds for the backbone (its small-map
convolutions batched, its Linear layers through the layer library's products). Prints the
median step time over ``--repeat`` steps, then the operator summary of ``--profile`` steps,
the most expensive first. ``--precision bf16`` runs the steps under the layer library's bf16
autocast, as ``training.precision: bf16`` does.
"""

from __future__ import annotations

import argparse

from backbone_options import add_backbone_options
from step_timer import time_step

from swint_cli.runtime import prepare_environment

prepare_environment()  # MKL's code path must be chosen before Paddle loads

import paddle  # noqa: E402
from paddle import profiler  # noqa: E402

from swint_cli import tune_cpu  # noqa: E402
from swint_cli.models.backbones import build_backbone  # noqa: E402
from swint_cli.nn import precision  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backbone_options(parser, repeat=5)
    parser.add_argument("--profile", type=int, default=3, help="steps in the operator table")
    parser.add_argument("--precision", default="fp32", choices=precision.PRECISIONS)
    args = parser.parse_args()
    tune_cpu(args.threads)
    model = build_backbone(args.backbone, 10)
    optimizer = paddle.optimizer.Momentum(0.01, momentum=0.9, parameters=model.parameters())
    images = paddle.randn([args.batch, 3, args.resolution, args.resolution])
    labels = paddle.randint(0, 10, [args.batch])

    def step() -> None:
        with precision.autocast(args.precision):
            loss = paddle.nn.functional.cross_entropy(model(images), labels)
            loss.backward()
        optimizer.step()
        optimizer.clear_grad()

    timing = time_step(step, 2, args.repeat)
    shape = f"B{args.batch} at {args.resolution}x{args.resolution}"
    print(f"{args.backbone} {shape} {args.precision}: {timing}")
    if args.profile == 0:
        return
    run = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU], scheduler=(1, 1 + args.profile))
    run.start()
    for _ in range(args.profile + 2):
        step()
        run.step()
    run.stop()
    run.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, time_unit="ms")


if __name__ == "__main__":
    main()
