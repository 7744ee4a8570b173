"""Runs a sweep's jobs, N at a time, each as its own ``swint train`` process.

Each job gets ``cores // N`` CPU threads (``swint --threads``, recorded in its env.json) and
a log in ``<sweep>/logs/``. A job that fails does not stop the others. On SIGINT or SIGTERM
no job is started any more and every running job is sent SIGTERM (so it checkpoints and ends
``interrupted``, as ``swint train`` does on Ctrl-C); a second SIGINT is passed on as SIGINT,
which stops them at once.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

from .job_state import FAILED, FINISHED, LOGS, NOT_STARTED, RESTART, job_state, set_aside
from .jobs import Job, SweepSpec

EXIT_FINISHED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
POLL_SECONDS = 0.2


@dataclass
class Progress:
    """Counts of this process's jobs, and an estimate of the time left (None until a job
    has finished here)."""

    total: int
    finished: int = 0
    running: int = 0
    failed: int = 0
    seconds_left: float | None = None
    event: str = ""

    @property
    def left(self) -> int:
        return self.total - self.finished - self.running - self.failed


@dataclass
class _Running:
    job: Job
    process: subprocess.Popen
    started: float
    log: TextIO


@dataclass
class SweepRunner:
    """Runs ``jobs`` (this shard's) of the sweep in ``folder``; ``report`` gets the progress
    after every change."""

    folder: Path
    spec: SweepSpec
    jobs: Sequence[Job]
    parallel: int
    threads: int
    retry_failed: bool
    report: Callable[[Progress], object]
    _stopping: list[int] = field(default_factory=list)
    _running: dict[int, _Running] = field(default_factory=dict)

    def _command(self, job: Job) -> tuple[list[str], str]:
        """The job's command line, and what it does (start, resume, retry, restart)."""
        state = job_state(self.folder, job.name)
        base = [sys.executable, "-m", "swint_cli", "--threads", str(self.threads), "train"]
        action = "start"
        if state.run_dir is not None and state.state in (FAILED, RESTART):
            set_aside(self.folder, state.run_dir)
            action = "retry" if state.state == FAILED else "restart"
        elif state.state != NOT_STARTED:
            return [*base, "--resume", str(state.run_dir), "--quiet"], "resume"
        sets = [arg for value in job.overrides(self.folder, self.spec) for arg in ("--set", value)]
        return [*base, job.recipe, *sets, "--quiet"], action

    def _start(self, job: Job, progress: Progress) -> None:
        command, action = self._command(job)
        logs = self.folder / LOGS
        logs.mkdir(exist_ok=True)
        log = open(logs / f"{job.name}.log", "a", encoding="utf-8")  # noqa: SIM115
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._running[process.pid] = _Running(job, process, time.monotonic(), log)
        progress.running += 1
        progress.event = f"{action}: {job.name}"
        self.report(progress)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        forward = signal.SIGINT if self._stopping and signum == signal.SIGINT else signal.SIGTERM
        self._stopping.append(signum)
        for entry in self._running.values():
            if entry.process.poll() is None:
                entry.process.send_signal(forward)

    def run(self) -> int:
        """Run the jobs; exit code 0 when all finished, 130 when stopped by a signal, else 1
        (a job failed now or earlier and was not retried)."""
        progress = Progress(total=len(self.jobs))
        pending: list[Job] = []
        for job in self.jobs:
            state = job_state(self.folder, job.name).state
            if state == FINISHED:
                progress.finished += 1
            elif state == FAILED and not self.retry_failed:
                progress.failed += 1
            else:
                pending.append(job)
        progress.event = f"{progress.finished} finished, {progress.failed} failed before"
        self.report(progress)
        durations: list[float] = []
        previous = self._install()
        try:
            while self._running or (pending and not self._stopping):
                while pending and not self._stopping and len(self._running) < self.parallel:
                    self._start(pending.pop(0), progress)
                time.sleep(POLL_SECONDS)
                for pid, entry in list(self._running.items()):
                    code = entry.process.poll()
                    if code is None:
                        continue
                    del self._running[pid]
                    entry.log.close()
                    durations.append(time.monotonic() - entry.started)
                    self._finished(entry.job, code, progress, durations, len(pending))
        finally:
            self._restore(previous)
        if self._stopping:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if progress.failed else EXIT_FINISHED

    def _finished(
        self, job: Job, code: int, progress: Progress, durations: list[float], pending: int
    ) -> None:
        progress.running -= 1
        state = job_state(self.folder, job.name)
        if state.state == FINISHED:
            progress.finished += 1
            progress.event = f"finished: {job.name}"
        elif code == EXIT_INTERRUPTED or self._stopping:
            progress.event = f"interrupted: {job.name} (resumable)"
        else:
            progress.failed += 1
            why = state.status or f"exit code {code}"
            progress.event = f"failed: {job.name} ({why}; log: {LOGS}/{job.name}.log)"
        waves = math.ceil((pending + progress.running) / self.parallel)
        progress.seconds_left = sum(durations) / len(durations) * waves
        self.report(progress)

    def _install(self) -> dict[int, object]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def _restore(self, previous: dict[int, object]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
