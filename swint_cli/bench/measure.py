"""Measure one subject (a layer or a model) in the current process: times, memory, rates."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import paddle

from ..runs import summarize_times
from .breakdown import compiled_call_table, operator_table
from .probes import PeakMemory, matmul_rate, synchronizer
from .timing import time_steps


@dataclass
class Subject:
    """A layer or model built for one batch, ready to be timed.

    ``infer`` runs one forward pass of the batch (it is timed under ``paddle.no_grad`` with
    ``module`` in eval mode); ``train`` one training step on it (``module`` in train mode):
    forward and backward for a layer, plus loss and optimizer step for a model. Both apply
    AMP themselves when asked. ``flops_per_image`` is in multiply-accumulates (the Swin
    paper's FLOPs), named by ``flops_source``; ``details`` go into the result as they are.
    """

    module: paddle.nn.Layer
    infer: Callable[[], object]
    train: Callable[[], object]
    flops_per_image: int
    flops_source: str
    details: dict[str, object] = field(default_factory=dict)


def _timing(prefix: str, times: list[float], batch: int) -> dict[str, float]:
    stats = summarize_times(times)
    if stats is None:
        raise ValueError("no times to summarize")
    return {
        **{f"{prefix}_ms_{key}": round(value, 4) for key, value in asdict(stats).items()},
        f"{prefix}_images_per_s": round(batch / (stats.median / 1000), 3),
    }


def measure(subject: Subject, spec: dict) -> dict[str, object]:
    """Time ``subject`` as ``spec`` says (``batch_size``, ``device``, ``amp``, ``repeat``,
    ``warmup``) and return the bench.csv fields it determines.

    Forward (``fwd_*``) is timed first, then the training step (``train_*``); the peak
    memory growth covers both. Achieved GFLOP/s is the forward pass's multiply-accumulates
    per second; ``matmul_fraction`` compares it with a square ``paddle.matmul`` of about the
    same number of multiply-accumulates, timed afterwards in this process. With
    ``spec["calls"]`` the result's ``calls_table`` times each compiled call of a training
    step, and with ``spec["profile"]`` (a step count) ``profile_table`` is Paddle's operator
    table of that many training steps (:mod:`.breakdown`).
    """
    batch, device, amp = spec["batch_size"], spec["device"], spec["amp"]
    repeat, warmup = spec["repeat"], spec["warmup"]
    sync = synchronizer(device)
    memory = PeakMemory(device)
    memory.start()
    subject.module.eval()
    with paddle.no_grad():
        forward = time_steps(subject.infer, repeat, warmup, sync)
    subject.module.train()
    training = time_steps(subject.train, repeat, warmup, sync)
    peak = memory.peak_mb()
    fwd = _timing("fwd", forward, batch)
    macs = subject.flops_per_image * batch
    achieved = macs / (fwd["fwd_ms_median"] / 1000) / 1e9
    reference, side = matmul_rate(macs, device, amp, repeat, warmup)
    breakdowns = {}  # after every timing, which they would slow
    if spec.get("calls"):
        breakdowns["calls_table"] = compiled_call_table(subject.train, repeat)
    if spec.get("profile"):
        breakdowns["profile_table"] = operator_table(subject.train, spec["profile"])
    return {
        **subject.details,
        **fwd,
        **_timing("train", training, batch),
        "params": sum(math.prod(p.shape) for p in subject.module.parameters()),
        "gflops": subject.flops_per_image / 1e9,
        "flops_source": subject.flops_source,
        "peak_mem_mb": round(peak, 2),
        "mem_source": memory.source,
        "achieved_gflops_per_s": round(achieved, 3),
        "matmul_gflops_per_s": round(reference, 3),
        "matmul_fraction": round(achieved / reference, 4),
        "matmul_n": side,
        **breakdowns,
    }
