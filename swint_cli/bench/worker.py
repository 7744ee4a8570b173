"""One measurement in a fresh process: ``python -m swint_cli.bench.worker SPEC.json RESULT.json``.

SPEC.json is a bench spec (see :mod:`.plan`); RESULT.json receives ``{"status": "ok", ...}``
with the measured fields, ``{"status": "oom", "error": ...}`` when the batch does not fit in
memory, or ``{"status": "failed", "error": ...}``; plus ``threads``, the CPU threads used.
The CPU environment is prepared before Paddle is imported, with the parent's ``threads``
and ``malloc`` settings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from ..runtime import prepare_environment

Measurer = Callable[[dict], dict]

_OOM_MARKERS = ("out of memory", "resourceexhausted")


def is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError, or a Paddle error whose type or message says memory ran out."""
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or any(marker in text for marker in _OOM_MARKERS)


def error_message(exc: BaseException) -> str:
    """One line: the exception type and Paddle's ``(Kind) message`` line or the first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    paddle_line = next((line for line in lines if line.startswith("(") and ")" in line), None)
    return f"{type(exc).__name__}: {paddle_line or (lines[0] if lines else '')}"[:300]


def run_spec(spec: dict, measurer: Measurer) -> dict:
    """``measurer(spec)`` as a result dict; an exception becomes status ``oom`` or ``failed``."""
    try:
        return {"status": "ok", **measurer(spec)}
    except Exception as exc:
        status = "oom" if is_out_of_memory(exc) else "failed"
        return {"status": status, "error": error_message(exc)}


def paddle_measurer(spec: dict) -> dict:
    """Put Paddle on ``spec["device"]``, build the layer or model subject and measure it."""
    import paddle

    from .measure import measure

    paddle.set_device(spec["device"])
    if spec["level"] == "layer":
        from .layer_bench import layer_subject as build
    else:
        from .model_bench import model_subject as build
    return measure(build(spec), spec)


def main(argv: list[str] | None = None) -> int:
    spec_path, result_path = map(Path, sys.argv[1:] if argv is None else argv)
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    prepare_environment()  # before Paddle loads: MKL's code path
    from ..runtime import tune_cpu

    runtime = tune_cpu(spec.get("threads"), malloc=spec.get("malloc", True))
    result = {**run_spec(spec, paddle_measurer), "threads": runtime["threads"]}
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
