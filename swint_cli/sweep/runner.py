"""Runs a sweep's jobs, N at a time, each as its own ``swint train`` process.

Each job gets ``cores // N`` CPU threads (``swint --threads``, recorded in its env.json) and
a log in ``<sweep>/logs/``. A job that fails does not stop the others. A job another
process runs (another sweep over the same directory, a shard, a ``swint train --resume``) is
left alone and counted as running elsewhere; a job whose process crashed is resumed. A job
stopped by a file it could not write (a full disk) ends interrupted and resumable, and no
further job starts. On SIGINT or SIGTERM
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

from ..files import LockOwner, ProcessLock, WriteError, writing
from ..runs.holder import CRASHED, RunHeld
from .job_state import (
    ELSEWHERE,
    FAILED,
    FINISHED,
    LOGS,
    NOT_STARTED,
    RESTART,
    JobState,
    claim,
    job_state,
    run_state,
    set_aside,
)
from .jobs import Job, SweepSpec

EXIT_FINISHED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
EXIT_WRITE_FAILED = 75  # as swint train: a file could not be written; resumable
POLL_SECONDS = 0.2


@dataclass
class Progress:
    """Counts of this process's jobs, and an estimate of the time left (None until a job
    has finished here)."""

    total: int
    finished: int = 0
    running: int = 0
    failed: int = 0
    elsewhere: int = 0  # left alone: another process runs them
    interrupted: int = 0  # stopped by a file they could not write; resumable
    seconds_left: float | None = None
    event: str = ""

    @property
    def left(self) -> int:
        done = self.finished + self.running + self.failed + self.elsewhere + self.interrupted
        return self.total - done


@dataclass
class _Running:
    job: Job
    process: subprocess.Popen
    started: float
    log: TextIO
    claim: ProcessLock  # held until the job's process has ended


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
    _write_failed: str | None = None  # the sweep's own write that failed

    def _command(self, job: Job, state: JobState) -> tuple[list[str], str]:
        """The job's command line, and what it does (start, resume, retry, restart)."""
        base = [sys.executable, "-m", "swint_cli", "--threads", str(self.threads), "train"]
        action = "start"
        if state.run_dir is not None and state.state in (FAILED, RESTART):
            set_aside(self.folder, state.run_dir)
            action = "retry" if state.state == FAILED else "restart"
        elif state.state != NOT_STARTED:
            why = f" ({CRASHED})" if state.status == CRASHED else ""
            return [*base, "--resume", str(state.run_dir), "--quiet"], f"resume{why}"
        sets = [arg for value in job.overrides(self.folder, self.spec) for arg in ("--set", value)]
        return [*base, job.recipe, *sets, "--quiet"], action

    def _elsewhere(self, job: Job, owner: LockOwner | None, progress: Progress) -> None:
        progress.elsewhere += 1
        progress.event = f"running elsewhere: {job.name} ({owner or 'another process'})"
        self.report(progress)

    def _start(self, job: Job, progress: Progress) -> None:
        """Claim ``job`` and start its process, unless another process has claimed or
        finished it since this sweep looked."""
        claimed = claim(self.folder, job.name)
        if isinstance(claimed, LockOwner):
            self._elsewhere(job, claimed, progress)
            return
        try:
            state = run_state(self.folder, job.name)
            if state.state == ELSEWHERE:
                claimed.release()
                self._elsewhere(job, state.owner, progress)
                return
            if state.state == FINISHED or (state.state == FAILED and not self.retry_failed):
                claimed.release()
                self._counted(job, state, progress)
                return
            command, action = self._command(job, state)
            log_path = self.folder / LOGS / f"{job.name}.log"
            with writing(log_path):
                log_path.parent.mkdir(exist_ok=True)
                log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115
                log.write(f"$ {' '.join(command)}\n")
                log.flush()
        except RunHeld as exc:  # set aside refused: its run was taken since
            claimed.release()
            self._elsewhere(job, exc.owner, progress)
            return
        except BaseException:
            claimed.release()
            raise
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._running[process.pid] = _Running(job, process, time.monotonic(), log, claimed)
        progress.running += 1
        progress.event = f"{action}: {job.name}"
        self.report(progress)

    def _counted(self, job: Job, state: JobState, progress: Progress) -> None:
        """Count a job another process finished (or failed) since this sweep looked."""
        if state.state == FINISHED:
            progress.finished += 1
            progress.event = f"finished elsewhere: {job.name}"
        else:
            progress.failed += 1
            progress.event = f"failed elsewhere: {job.name} ({state.status})"
        self.report(progress)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        forward = signal.SIGINT if self._stopping and signum == signal.SIGINT else signal.SIGTERM
        self._stopping.append(signum)
        for entry in self._running.values():
            if entry.process.poll() is None:
                entry.process.send_signal(forward)

    @property
    def _starting(self) -> bool:
        """Whether new jobs may start: no stop signal and no failed write of the sweep's."""
        return not self._stopping and self._write_failed is None

    def run(self) -> int:
        """Run the jobs; exit code 0 when all finished (or run elsewhere), 130 when stopped
        by a signal, 75 when a job or the sweep could not write a file (resumable), else 1
        (a job failed now or earlier and was not retried)."""
        progress = Progress(total=len(self.jobs))
        pending: list[Job] = []
        for job in self.jobs:
            state = job_state(self.folder, job.name)
            if state.state == FINISHED:
                progress.finished += 1
            elif state.state == FAILED and not self.retry_failed:
                progress.failed += 1
            elif state.state == ELSEWHERE:
                self._elsewhere(job, state.owner, progress)
            else:
                pending.append(job)
        progress.event = f"{progress.finished} finished, {progress.failed} failed before" + (
            f", {progress.elsewhere} running elsewhere" if progress.elsewhere else ""
        )
        self.report(progress)
        durations: list[float] = []
        previous = self._install()
        try:
            while self._running or (pending and self._starting):
                while pending and self._starting and len(self._running) < self.parallel:
                    try:
                        self._start(pending.pop(0), progress)
                    except WriteError as exc:  # start no more; the running ones go on
                        self._write_failed = str(exc)
                        progress.event = f"no more jobs started: {exc}"
                        self.report(progress)
                time.sleep(POLL_SECONDS)
                for pid, entry in list(self._running.items()):
                    code = entry.process.poll()
                    if code is None:
                        continue
                    del self._running[pid]
                    entry.log.close()
                    durations.append(time.monotonic() - entry.started)
                    try:
                        self._finished(entry.job, code, progress, durations, len(pending))
                    finally:
                        entry.claim.release()
        finally:
            self._restore(previous)
        if self._write_failed is not None or progress.interrupted:
            return EXIT_WRITE_FAILED
        if self._stopping:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if progress.failed else EXIT_FINISHED

    def _finished(
        self, job: Job, code: int, progress: Progress, durations: list[float], pending: int
    ) -> None:
        progress.running -= 1
        state = run_state(self.folder, job.name)
        if state.state == FINISHED:
            progress.finished += 1
            progress.event = f"finished: {job.name}"
        elif code == EXIT_INTERRUPTED or self._stopping:
            progress.event = f"interrupted: {job.name} (resumable)"
        elif state.status.startswith("interrupted"):  # e.g. a full disk
            progress.interrupted += 1
            why = state.status.partition(": ")[2] or "stopped"
            progress.event = (
                f"interrupted: {job.name} ({why}; resumable; log: {LOGS}/{job.name}.log)"
            )
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
