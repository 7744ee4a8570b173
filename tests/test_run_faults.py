"""Runs survive a second writer, a crash and a full disk (docs/runs.md, "Faults").

The full disk is a small tmpfs the test mounts when it can (root with mount rights, as on
CI), filled to within a few pages; elsewhere the write fails through an injected error.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from assertions import one_error_line
from tiny_runs import QUICKSTART, children, learning_columns, set_args, tiny
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.files import writing
from swint_cli.recipe import load_recipe
from swint_cli.runs import read_run
from swint_cli.runs.holder import run_holder
from swint_cli.runs.tables import CsvTable
from swint_cli.sweep.job_state import RESUMABLE, run_state
from swint_cli.train import StopRequest, TrainOptions, train

runner = CliRunner()
LONGER = "data.train_size=320"  # 20 steps per epoch: long enough to be caught mid-epoch


def start_training(runs_dir: Path, *extra: str) -> subprocess.Popen:
    """``swint train`` of the tiny quickstart in another process."""
    args = [sys.executable, "-m", "swint_cli", "train", str(QUICKSTART), "--quiet"]
    return subprocess.Popen(
        [*args, *set_args(tiny(runs_dir, *extra))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(runs_dir: Path, rows: int, process: subprocess.Popen) -> Path:
    """The run directory, once its batches.csv holds ``rows`` rows; fails if the process
    ends first."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        found = [p for p in runs_dir.iterdir() if p.is_dir()] if runs_dir.exists() else []
        table = found[0] / "batches.csv" if found else None
        if table is not None and table.exists() and len(table.read_text().splitlines()) > rows:
            return found[0]
        time.sleep(0.05)
    out, err = process.communicate() if process.poll() is not None else ("", "(timed out)")
    pytest.fail(f"training did not reach {rows} rows: {out}{err}"[-2000:])


def rows_match_the_checkpoint(run: Path) -> None:
    """batches.csv holds exactly the rows up to where the last checkpoint continues."""
    state = json.loads((run / "checkpoints" / "last.json").read_text())
    assert len(pd.read_csv(run / "batches.csv")) == state["batches_done"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run the interrupted ones must reproduce: the longer tiny quickstart, one loader
    worker, uninterrupted."""
    runs = tmp_path_factory.mktemp("straight")
    recipe = load_recipe(QUICKSTART, tiny(runs, LONGER, "data.num_workers=1"))
    result = train(recipe, TrainOptions(quiet=True))
    assert result.status == "finished", result.message
    return result.run_dir


def assert_same_training(run: Path, reference: Path) -> None:
    pd.testing.assert_frame_equal(
        learning_columns(run), learning_columns(reference), atol=1e-5, rtol=0
    )
    batches, expected = pd.read_csv(run / "batches.csv"), pd.read_csv(reference / "batches.csv")
    assert list(zip(batches["epoch"], batches["step"], strict=True)) == list(
        zip(expected["epoch"], expected["step"], strict=True)
    )
    pd.testing.assert_series_equal(batches["loss"], expected["loss"], atol=1e-5, rtol=0)


# -- a second writer -----------------------------------------------------------------------


def test_a_second_trainer_of_a_held_run_is_refused_and_the_first_is_unharmed(
    tmp_path: Path,
) -> None:
    first = start_training(tmp_path, "training.epochs=50")
    try:
        run = wait_for_rows(tmp_path, 3, first)
        written = {name: (run / name).read_bytes() for name in ("env.json", "run.json", "lock")}
        second = runner.invoke(app, ["train", "--resume", str(run)])
        assert second.exit_code == 2
        line = one_error_line(second.output)
        held = f"error: {run} is being trained by pid {first.pid} on {socket.gethostname()} since "
        assert line.startswith(held), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", line[len(held) :])
        assert {name: (run / name).read_bytes() for name in written} == written
        assert read_run(run).status == "running"  # a live run is not called crashed
    finally:
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    rows_match_the_checkpoint(run)
    assert run_holder(run) is None


# -- a crash -------------------------------------------------------------------------------


def test_a_run_killed_mid_epoch_reads_as_crashed_and_resumes_to_the_uninterrupted_result(
    tmp_path: Path, straight: Path
) -> None:
    killed = start_training(tmp_path, LONGER, "data.num_workers=1")
    run = wait_for_rows(tmp_path, 25, killed)  # epoch 2, batch 5
    workers = children(killed.pid)
    assert killed.poll() is None and workers, "the run ended before it could be killed"
    killed.kill()
    killed.wait()
    try:  # its loader's worker lives on, orphaned, but does not keep the run held
        assert run_holder(run) is None
    finally:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
        killed.communicate()
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    assert read_run(run).status == "crashed"
    shown = runner.invoke(app, ["compare", str(run), "--no-group", "--out", str(tmp_path / "c")])
    assert shown.exit_code == 0, shown.output
    assert list(pd.read_csv(tmp_path / "c" / "compare.csv")["status"]) == ["crashed"]

    resumed = train(None, TrainOptions(resume=run, quiet=True))  # type: ignore[arg-type]
    assert resumed.status == "finished", resumed.message
    assert_same_training(run, straight)


# -- a full disk, permission denied, a read-only file system --------------------------------


@contextlib.contextmanager
def small_filesystem(path: Path, megabytes: int = 64) -> Iterator[bool]:
    """Mount a ``megabytes`` tmpfs on ``path`` when this process may (True), else leave
    ``path`` an ordinary directory (False); unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)]
    try:
        mounted = subprocess.run(mount, capture_output=True, check=False).returncode == 0
    except OSError:
        mounted = False
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill ``folder``'s file system, then give back ``leave`` bytes; the filler file."""
    filler = folder / ".filler"
    with open(filler, "wb", buffering=0) as file:
        for chunk in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    file.write(bytes(chunk))
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


class OnBatch(StopRequest):
    """Calls ``action`` when the trainer checks for a stop before batch ``index`` (0-based,
    counted over the whole run); never asks to stop."""

    def __init__(self, index: int, action: Callable[[], None]) -> None:
        super().__init__()
        self.left, self.action = index, action

    def __bool__(self) -> bool:
        if self.left == 0:
            self.action()
        self.left -= 1
        return super().__bool__()


def fail_writes(monkeypatch: pytest.MonkeyPatch, target: str, code: int) -> None:
    """Make the writer ``target`` (``module.attribute`` under swint_cli) raise ``code``."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(f"swint_cli.{module}.{name}", refuse)


def stopped_by_a_write(
    runs_dir: Path, batch: int, fault: Callable[[], None], reason: str
) -> tuple[Path, str]:
    """Train the longer tiny quickstart into ``runs_dir`` with ``fault()`` striking before
    batch ``batch``; check that it stopped resumably for ``reason`` (status, exit code 75).
    The run directory and the line it printed."""
    recipe = load_recipe(QUICKSTART, tiny(runs_dir, LONGER, "data.num_workers=1"))
    result = train(recipe, TrainOptions(quiet=True), OnBatch(batch, fault))
    assert (result.status, result.exit_code) == (f"interrupted: {reason}", 75), result.message
    return result.run_dir, result.message


def test_a_full_disk_stops_the_run_resumably_and_resume_finishes_once_there_is_space(
    tmp_path: Path, straight: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = tmp_path / "disk"
    with small_filesystem(disk) as mounted:
        full: list[Path] = []

        def disk_fills() -> None:  # room for table rows and the summary, not a checkpoint
            if mounted:
                full.append(fill(disk, leave=256 << 10))
            else:
                fail_writes(monkeypatch, "runs.checkpoint_files.write_arrays", errno.ENOSPC)

        run, message = stopped_by_a_write(disk, 23, disk_fills, "no space left on device")
        assert message == (
            f"no space left on device writing {run}/checkpoints/last.safetensors: stopped at "
            f"epoch 2 batch 0; `swint train --resume {run}` continues once there is space"
        )
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "interrupted: no space left on device"
        assert run_state(disk, "quickstart").state == RESUMABLE  # a sweep resumes it
        assert read_run(run).status == "interrupted: no space left on device"
        state = json.loads((run / "checkpoints" / "last.json").read_text())
        assert (state["epoch"], state["step"]) == (2, 0)  # epoch 1's checkpoint, whole
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
            "best.safetensors",
            "last.json",
            "last.optimizer.safetensors",
            "last.safetensors",
        ]  # nothing staged left behind
        assert len(pd.read_csv(run / "epochs.csv")) == 2  # epoch 2's row, cut on resume
        assert len(pd.read_csv(run / "batches.csv")) == 40

        if mounted:  # a read-only file system: resume says so in one line, changes nothing
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
            try:
                refused = runner.invoke(app, ["train", "--resume", str(run)])
            finally:
                subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
            assert refused.exit_code == 2
            assert one_error_line(refused.output) == (
                f"error: read-only file system writing {run}/lock"
            )
            for filler in full:
                filler.unlink()
        else:
            monkeypatch.undo()
        resumed = train(None, TrainOptions(resume=run, quiet=True))  # type: ignore[arg-type]
        assert resumed.status == "finished", resumed.message
        assert_same_training(run, straight)


def test_permission_denied_mid_epoch_stops_resumably_naming_the_table(
    tmp_path: Path, straight: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file a run cannot write may be a table: its rows up to the checkpoint stay."""

    def refuse(table: CsvTable, line: str) -> None:
        with writing(table.path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    def refused() -> None:
        monkeypatch.setattr(CsvTable, "_write", refuse)

    run, message = stopped_by_a_write(tmp_path, 25, refused, "permission denied")
    assert message == (
        f"permission denied writing {run}/batches.csv: stopped at epoch 2 batch 0; "
        f"`swint train --resume {run}` continues once you may write there"
    )
    assert len(pd.read_csv(run / "batches.csv")) == 25
    monkeypatch.undo()
    resumed = train(None, TrainOptions(resume=run, quiet=True))  # type: ignore[arg-type]
    assert resumed.status == "finished", resumed.message
    assert_same_training(run, straight)


def test_compare_export_and_sweep_on_a_full_disk_say_which_file_in_one_line(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    finished = train(
        load_recipe(QUICKSTART, tiny(runs, "training.epochs=1")), TrainOptions(quiet=True)
    )
    assert finished.status == "finished"
    disk = tmp_path / "disk"
    with small_filesystem(disk, megabytes=16) as mounted:
        if not mounted:
            pytest.skip("needs a small file system to fill (mount rights)")
        export = disk / "export"
        first = runner.invoke(app, ["export", str(finished.run_dir), "--out", str(export)])
        assert first.exit_code == 0, first.output
        exported = {p.name: p.read_bytes() for p in export.iterdir()}
        (disk / "report").mkdir()
        fill(disk)

        again = runner.invoke(
            app, ["export", str(finished.run_dir), "--out", str(export), "--force"]
        )
        assert again.exit_code == 2
        assert one_error_line(again.output) == (
            f"error: no space left on device writing {export}/inference.pdiparams"
        )
        assert {p.name: p.read_bytes() for p in export.iterdir()} == exported  # kept whole

        compared = runner.invoke(
            app, ["compare", str(finished.run_dir), "--no-group", "--out", str(disk / "report")]
        )
        assert compared.exit_code == 2
        first_file = f"{disk}/report/curves.png"  # the first file compare writes
        assert (
            one_error_line(compared.output)
            == f"error: no space left on device writing {first_file}"
        )

        swept = runner.invoke(
            app,
            ["sweep", str(QUICKSTART), "--seeds", "1", "--out", str(disk / "sweep"), "--quiet"],
        )
        assert swept.exit_code == 2
        assert one_error_line(swept.output) == (
            f"error: no space left on device writing {disk}/sweep/sweep.yaml"
        )
        shutil.rmtree(disk / "sweep")


def test_a_sweep_whose_job_fills_the_disk_stops_resumably_and_resume_finishes_it(
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk"
    with small_filesystem(disk, megabytes=8) as mounted:  # room for the tables, not a checkpoint
        if not mounted:
            pytest.skip("needs a small file system to fill (mount rights)")
        overrides = [*tiny(Path("unused")), "training.epochs=1", "data.train_size=64"]
        args = ["sweep", str(QUICKSTART), "--seeds", "1", "--out", str(disk / "sweep")]
        command = [sys.executable, "-m", "swint_cli", *args, *set_args(overrides), "--quiet"]
        stopped = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert stopped.returncode == 75, stopped.stdout + stopped.stderr
        assert "interrupted: quickstart-seed0 (no space left on device; resumable" in stopped.stdout
        assert "once it can, continue with swint sweep --resume" in stopped.stderr
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resume = [sys.executable, "-m", "swint_cli", "sweep", "--resume", str(disk / "sweep")]
        resumed = subprocess.run([*resume, "--quiet"], capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "finished 1/1" in resumed.stdout
