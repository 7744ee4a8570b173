"""Run measurements in worker processes, retry out-of-memory at half the batch, write bench.csv."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..files import write_atomic

BENCH_COLUMNS = (
    "level",
    "name",
    "downsample",
    "status",
    "device",
    "threads",
    "amp",
    "precision",
    "recompute",
    "in_backward",
    "batch_size",
    "resolution",
    "in_channels",
    "out_channels",
    "heads",
    "window_size",
    "recipe",
    "backbone",
    "swint_slots",
    "fwd_ms_median",
    "fwd_ms_p10",
    "fwd_ms_p90",
    "fwd_images_per_s",
    "train_ms_median",
    "train_ms_p10",
    "train_ms_p90",
    "train_images_per_s",
    "params",
    "gflops",
    "flops_source",
    "peak_mem_mb",
    "mem_source",
    "achieved_gflops_per_s",
    "matmul_gflops_per_s",
    "matmul_fraction",
    "matmul_n",
    "repeat",
    "warmup",
    "error",
)

Runner = Callable[[dict], dict]


def run_worker(spec: dict) -> dict:
    """Measure ``spec`` in a fresh ``python -m swint_cli.bench.worker`` process.

    Returns the worker's result (status ``ok``, ``oom`` or ``failed``). A worker killed by
    SIGKILL counts as out of memory (Linux's OOM killer); any other death as failed, with
    the last line it wrote to stderr.
    """
    with tempfile.TemporaryDirectory(prefix="swint-bench-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        command = [sys.executable, "-m", "swint_cli.bench.worker", str(spec_path), str(result_path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if result_path.is_file():
            return json.loads(result_path.read_text(encoding="utf-8"))
    if done.returncode == -signal.SIGKILL:
        return {"status": "oom", "error": "worker killed by SIGKILL (out of memory?)"}
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return {"status": "failed", "error": lines[-1] if lines else f"exit code {done.returncode}"}


def measure_with_retry(spec: dict, run: Runner = run_worker) -> list[dict]:
    """Rows for ``spec``: ``run`` at its batch size; after an out-of-memory result, a row
    with status ``oom at batch N`` and another try at half the batch, down to batch 1.

    Every row is the spec with the batch tried, merged with ``run``'s result; status is
    ``ok``, ``oom at batch N`` or ``failed`` (with ``error``).
    """
    rows, batch = [], spec["batch_size"]
    while True:
        result = run({**spec, "batch_size": batch})
        row = {**spec, **result, "batch_size": batch}
        if result["status"] != "oom":
            return [*rows, row]
        rows.append({**row, "status": f"oom at batch {batch}"})
        if batch == 1:
            return rows
        batch = max(1, batch // 2)


def write_csv(path: Path, rows: Iterable[dict]) -> None:
    """Replace ``path`` atomically with ``rows`` under :data:`BENCH_COLUMNS` (missing fields
    empty). Raises OSError."""
    text = io.StringIO()
    writer = csv.DictWriter(text, BENCH_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


def measure_all(specs: Iterable[dict], table: Path, run: Runner = run_worker) -> list[dict]:
    """The rows of every spec (:func:`measure_with_retry` with ``run``), rewriting ``table``
    after each, so that an interruption leaves the measurements so far in it."""
    rows: list[dict] = []
    for spec in specs:
        rows += measure_with_retry(spec, run)
        write_csv(table, rows)
    return rows
