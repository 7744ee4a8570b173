"""Run by tests/test_recompute.py under ``paddle.distributed.launch --nproc_per_node 2``: each
rank takes its half of a fixed batch through a recomputed SwinT inside ``paddle.DataParallel``
and saves the averaged parameter gradients as ``OUT/rank<N>.npz``."""

from __future__ import annotations

import sys

import numpy as np
import paddle
import paddle.distributed as dist

from swint_cli import SwinT


def main(out: str) -> None:
    dist.init_parallel_env()
    rank = dist.get_rank()
    paddle.seed(0)
    layer = SwinT(8, 8, (4, 4), num_heads=2, window_size=2, droppath=0.2, recompute=True)
    model = paddle.DataParallel(layer)
    x = np.random.default_rng(1).standard_normal((4, 8, 4, 4)).astype("float32")
    paddle.seed(10 + rank)  # drop path draws per rank
    model(paddle.to_tensor(x[2 * rank : 2 * rank + 2])).square().mean().backward()
    grads = {name: p.grad.numpy() for name, p in layer.named_parameters()}
    np.savez(f"{out}/rank{rank}.npz", **grads)


if __name__ == "__main__":
    main(sys.argv[1])
