"""Data-parallel context under ``python -m paddle.distributed.launch``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import paddle


@dataclass(frozen=True)
class ParallelContext:
    """This process's rank and the number of processes; rank 0 writes the run directory."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_world_size() -> int:
    """Processes started by ``paddle.distributed.launch`` (1 when run directly)."""
    return int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))


def launched_rank() -> int:
    """This process's rank as ``paddle.distributed.launch`` set it (0 when run directly),
    known before the collective environment starts."""
    return int(os.environ.get("PADDLE_TRAINER_ID", "0"))


def init_parallel() -> ParallelContext:
    """Initialise Paddle's collective environment when launched with several processes."""
    world = launched_world_size()
    if world <= 1:
        return ParallelContext()
    paddle.distributed.init_parallel_env()
    return ParallelContext(paddle.distributed.get_rank(), paddle.distributed.get_world_size())


def share_rank0_state(model: paddle.nn.Layer, context: ParallelContext) -> None:
    """Give every process rank 0's non-trained state (BatchNorm's running statistics), so
    that all of them validate the model rank 0 saves. Trained parameters are equal already:
    DataParallel averages their gradients."""
    if not context.enabled:
        return
    for tensor in model.state_dict().values():
        if tensor.stop_gradient:
            paddle.distributed.broadcast(tensor, src=0)


def all_reduce_sums(values: list[float], context: ParallelContext) -> list[float]:
    """Element-wise sum of ``values`` over all processes (identity when not parallel)."""
    if not context.enabled:
        return values
    tensor = paddle.to_tensor(values, dtype="float64")
    paddle.distributed.all_reduce(tensor)
    return [float(v) for v in tensor.numpy()]


def all_gather_objects(value: object, context: ParallelContext) -> list:
    """Every process's ``value`` (picklable), in rank order (``[value]`` when not parallel)."""
    if not context.enabled:
        return [value]
    gathered: list = []
    paddle.distributed.all_gather_object(gathered, value)
    return gathered
