"""The reference for ``swint bench --models resnet50``: torchvision's ResNet-50 train step.

    /path/to/torch-env/bin/python benchmarks/torchvision_resnet50.py --batch 16 --resolution 64
    /path/to/torch-env/bin/python benchmarks/torchvision_resnet50.py --precision bf16

One step is forward, cross-entropy, backward and an SGD momentum update (10 classes, random
images and labels), as ``swint bench`` times the trainer's step; ``--precision bf16`` runs
forward and loss under ``torch.autocast("cpu", dtype=torch.bfloat16)``. Prints the median, p10
and p90 step time after ``--warmup`` steps, with glibc malloc tuned as ``swint`` tunes it.
torch and torchvision are needed in the environment that runs this; neither is a dependency
of swint.
"""

from __future__ import annotations

import argparse

import torch
import torchvision
from step_timer import time_step
from torch_swin_pair import keep_heap_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="fp32", help="fp32 | bf16 (autocast)")
    args = parser.parse_args()
    keep_heap_memory()
    torch.set_num_threads(args.threads)
    model = torchvision.models.resnet50(num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images = torch.randn(args.batch, 3, args.resolution, args.resolution)
    labels = torch.randint(0, 10, (args.batch,))
    bf16 = args.precision == "bf16"

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    timing = time_step(step, args.warmup, args.repeat)
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, threads "
        f"{args.threads}: ResNet-50 B{args.batch} at {args.resolution}x{args.resolution} "
        f"precision {args.precision}: train step {timing}"
    )


if __name__ == "__main__":
    main()
