"""swint train end to end: run directory contents, resume, interrupts, failures, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from tiny_runs import (
    QUICKSTART,
    ROOT,
    TIMING,
    StopAfter,
    children,
    learning_columns,
    run_dir_of,
    set_args,
    tiny,
)
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.recipe import load_recipe
from swint_cli.runs import BATCH_COLUMNS, EPOCH_COLUMNS
from swint_cli.train import TrainOptions, train

SWINT_SCRIPT = Path(sys.executable).with_name("swint")  # the installed console script

runner = CliRunner()


def check_run_directory(run: Path, status: str = "finished") -> None:
    for name in ("recipe.yaml", "env.json", "summary.json", "epochs.csv", "batches.csv"):
        assert (run / name).is_file(), name
    for name in ("last.safetensors", "last.optimizer.safetensors", "last.json", "best.safetensors"):
        assert (run / "checkpoints" / name).is_file(), name
    epochs = pd.read_csv(run / "epochs.csv")
    batches = pd.read_csv(run / "batches.csv")
    assert list(epochs.columns) == list(EPOCH_COLUMNS)
    assert list(batches.columns) == list(BATCH_COLUMNS)
    assert epochs.notna().all().all() and batches.notna().all().all()
    for column in ("train_acc1", "val_acc1", "val_acc5"):
        assert epochs[column].between(0, 1).all()
    assert batches["acc1"].between(0, 1).all()
    assert (batches[["data_ms", "step_ms"]] > 0).all().all()
    assert (epochs[TIMING] > 0).all().all()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == status
    assert summary["median_step_ms"] > 0 and summary["p90_step_ms"] >= summary["median_step_ms"]
    assert summary["gflops_per_image"] > 0 and summary["params"] > 0
    env = json.loads((run / "env.json").read_text())
    assert env["paddle"] and env["threads"] >= 1


def test_quickstart_cli_run_writes_the_run_directory(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            str(QUICKSTART),
            *set_args(tiny(tmp_path)),
            "--epochs",
            "2",
            "--limit-batches",
            "3",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    run = run_dir_of(tmp_path)
    check_run_directory(run)
    assert len(pd.read_csv(run / "epochs.csv")) == 2
    batches = pd.read_csv(run / "batches.csv")
    assert len(batches) == 6 and batches["warmup"].tolist()[:3] == [1, 1, 0]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["swint_slots"] == 2 and summary["epochs_done"] == 2
    resolved = load_recipe(run / "recipe.yaml")
    assert resolved.training.epochs == 2 and resolved.training.limit_batches == 3


def test_swinresnet_on_mini_cifar_at_32(tmp_path: Path, cifar_mini: Path) -> None:
    overrides = [
        f"data.path={cifar_mini}",
        "data.image_size=32",
        "data.num_workers=0",
        "data.train_size=48",
        "data.val_size=16",
        "training.batch_size=8",
        f"output.runs_dir={tmp_path}",
    ]
    args = [
        "train",
        str(ROOT / "recipes" / "swinresnet.yaml"),
        "--epochs",
        "1",
        "--limit-batches",
        "2",
        "--quiet",
    ]
    result = runner.invoke(app, args + set_args(overrides))
    assert result.exit_code == 0, result.output
    run = run_dir_of(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["swint_slots"] == 16 and summary["status"] == "finished"
    epochs = pd.read_csv(run / "epochs.csv")
    assert epochs["val_loss"].map(math.isfinite).all()


def test_same_seed_gives_the_same_epochs(tmp_path: Path) -> None:
    first = train(load_recipe(QUICKSTART, tiny(tmp_path / "a")), TrainOptions(quiet=True))
    second = train(load_recipe(QUICKSTART, tiny(tmp_path / "b")), TrainOptions(quiet=True))
    pd.testing.assert_frame_equal(learning_columns(first.run_dir), learning_columns(second.run_dir))


@pytest.mark.parametrize("checks", [6, 8], ids=["at_epoch_boundary", "mid_epoch"])
def test_resumed_run_matches_uninterrupted_run(tmp_path: Path, checks: int) -> None:
    straight = train(load_recipe(QUICKSTART, tiny(tmp_path / "a")), TrainOptions(quiet=True))
    # 96 images / batch 16 = 6 batches per epoch: stop before batch 0 or 2 of epoch 2.
    stopped = train(
        load_recipe(QUICKSTART, tiny(tmp_path / "b")), TrainOptions(quiet=True), StopAfter(checks)
    )
    assert (stopped.status, stopped.exit_code) == ("interrupted", 130)
    assert len(pd.read_csv(stopped.run_dir / "epochs.csv")) == 1
    resumed = train(None, TrainOptions(resume=stopped.run_dir, quiet=True))  # type: ignore[arg-type]
    assert resumed.run_dir == stopped.run_dir and resumed.status == "finished"

    pd.testing.assert_frame_equal(
        learning_columns(resumed.run_dir), learning_columns(straight.run_dir), atol=1e-5, rtol=0
    )
    batches = pd.read_csv(resumed.run_dir / "batches.csv")
    assert (batches["epoch"].astype(str) != "epoch").all()  # one header
    assert list(zip(batches["epoch"], batches["step"], strict=True)) == [
        (e, s) for e in (1, 2, 3) for s in range(6)
    ]
    reference = pd.read_csv(straight.run_dir / "batches.csv")
    pd.testing.assert_series_equal(batches["loss"], reference["loss"], atol=1e-5, rtol=0)
    check_run_directory(resumed.run_dir)


def test_sigint_checkpoints_and_exits_130(tmp_path: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "swint_cli",
        "train",
        str(QUICKSTART),
        "--quiet",
        *set_args(tiny(tmp_path, "training.epochs=50")),
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    batches = None
    while time.monotonic() < deadline:
        found = [p for p in tmp_path.iterdir() if p.is_dir()] if tmp_path.exists() else []
        if found and (found[0] / "batches.csv").exists():
            batches = found[0] / "batches.csv"
            if len(batches.read_text().splitlines()) >= 4:
                break
        time.sleep(0.2)
    assert batches is not None, "training did not start"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    run = batches.parent
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert (run / "checkpoints" / "last.safetensors").is_file()
    state = json.loads((run / "checkpoints" / "last.json").read_text())
    assert len(pd.read_csv(batches)) == (state["epoch"] - 1) * 6 + state["step"]


def test_non_finite_loss_stops_with_status_and_files_kept(tmp_path: Path) -> None:
    overrides = tiny(
        tmp_path,
        "training.optimizer.name=sgd",
        "training.optimizer.learning_rate=1e30",
        "training.schedule.warmup_epochs=0",
    )
    result = runner.invoke(app, ["train", str(QUICKSTART), "--quiet", *set_args(overrides)])
    assert result.exit_code == 1
    assert "non-finite loss" in result.output and "at epoch" in result.output
    run = run_dir_of(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed: non-finite loss"
    pd.read_csv(run / "batches.csv")  # still a valid table


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["data.dataset=cifar10", "data.path=missing.tar.gz"],
            "error: missing.tar.gz: no such file; data.path must be the CIFAR-10 python "
            "tarball, cifar-10-python.tar.gz: give it with --set data.path=/path/to/"
            "cifar-10-python.tar.gz",
        ),
        (
            ["training.epochs=0"],
            "error: --set training.epochs=0: training.epochs: expected a positive integer, got 0",
        ),
        (
            ["training.epoch=1"],
            "error: --set training.epoch=1: training.epoch: unknown key; did you mean epochs?",
        ),
        (["model.replace[0].slots=stage9.conv2"], "matches no Conv2D slot"),
        (["model.num_classes=3"], "model.num_classes is 3 but the data has 10 classes"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_run_directory(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    runs = tmp_path / "runs"
    args = ["train", str(QUICKSTART), "--set", f"output.runs_dir={runs}"]
    result = runner.invoke(app, args + set_args(overrides))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not runs.exists() or not any(runs.iterdir())


def test_unwritable_runs_dir_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = ["train", str(QUICKSTART), "--set", f"output.runs_dir={blocker}/runs", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "cannot create runs directory" in result.output


def test_resume_of_a_non_run_is_reported(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "not a resumable run" in result.output


def test_data_parallel_launch_trains_two_shards_and_rank0_writes(tmp_path: Path) -> None:
    overrides = tiny(tmp_path / "runs", "training.epochs=1", "data.train_size=128")
    args = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--nproc_per_node",
        "2",
        "--log_dir",
        str(tmp_path / "log"),
        str(SWINT_SCRIPT),
        "train",
        str(QUICKSTART),
        "--quiet",
        *set_args(overrides),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = run_dir_of(tmp_path / "runs")
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    # 128 images over 2 ranks at batch 16: rank 0 logs 4 steps; validation sees all 32.
    assert len(pd.read_csv(run / "batches.csv")) == 4
    check_run_directory(run)


def ignores_stop_signals(pid: int) -> bool:
    """Whether the kernel has SIGINT and SIGTERM as ignored by ``pid`` (blocked signals
    are not ignored: they act once unblocked)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    ignored = int(next(line for line in status if line.startswith("SigIgn:")).split()[1], 16)
    return all(ignored >> (s - 1) & 1 for s in (signal.SIGINT, signal.SIGTERM))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_stop_signal_to_the_process_group_with_loader_workers_stops_like_sigint(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """``timeout -s TERM`` and Ctrl-C signal every process of the group, the data loader's
    workers included, and can reach a worker as it starts: every worker ignores the stop
    signals from its start, only the current loader's workers are alive, and the run
    checkpoints at a batch boundary, says one line, exits 130 and leaves no worker behind."""

    # Each loader worker also gets the stop signal as it starts, just after Paddle's worker
    # code has installed its own handlers (from there until the worker ignores it, SIGTERM
    # kills it): as a group signal would that comes while an epoch's loader starts workers.
    signal_each_starting_worker = "\n".join(
        [
            "import os",
            "from swint_cli.__main__ import main",
            "from swint_cli.runtime import prepare_environment",
            "prepare_environment()  # before Paddle loads, as main() does",
            "from paddle.framework import core  # as Paddle's loader workers call it",
            "paddle_handlers = core._set_process_signal_handler",
            "def paddle_handlers_then_the_stop_signal():",
            "    paddle_handlers()",
            f"    os.kill(os.getpid(), {int(signum)})",
            "core._set_process_signal_handler = paddle_handlers_then_the_stop_signal",
            "main()",
        ]
    )
    overrides = tiny(tmp_path, "training.epochs=50", "data.num_workers=2")
    args = [sys.executable, "-c", signal_each_starting_worker, "train", str(QUICKSTART)]
    process = subprocess.Popen(
        [*args, "--quiet", *set_args(overrides)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as under a shell
    )
    try:
        deadline = time.monotonic() + 120
        batches, workers = None, []
        while time.monotonic() < deadline and not workers and process.poll() is None:
            found = [p / "batches.csv" for p in tmp_path.iterdir() if p.is_dir()]
            if found and found[0].exists() and len(found[0].read_text().splitlines()) >= 9:
                batches = found[0]  # into the second epoch: a new loader's workers are running
                os.kill(process.pid, signal.SIGSTOP)  # hold the trainer and so its loaders
                workers = children(process.pid)
                if not workers:  # between two loaders: look again
                    os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.2)
        if not workers:
            err = process.communicate()[1] if process.poll() is not None else "(timed out)"
            pytest.fail(f"training did not start: {err[-2000:]}")
        assert len(workers) <= 2  # data.num_workers: earlier loaders shut theirs down
        heeding = workers
        while time.monotonic() < deadline and heeding:  # a worker may still be starting
            heeding = [pid for pid in workers if not ignores_stop_signals(pid)]
            time.sleep(0.2)
        assert not heeding, f"loader workers {heeding} do not ignore SIGINT and SIGTERM"
        os.kill(process.pid, signal.SIGCONT)
        os.killpg(process.pid, signum)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("interrupted ("), err
        run = batches.parent
        assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
        state = json.loads((run / "checkpoints" / "last.json").read_text())
        assert (
            len(pd.read_csv(batches))
            == state["batches_done"]
            == (state["epoch"] - 1) * 6 + state["step"]
        )
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)  # no process of the group is left
    finally:
        if process.poll() is None:  # a check failed: leave nothing running
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def test_a_run_prints_its_directory_first_and_the_next_commands_last(tmp_path: Path) -> None:
    args = ["train", str(QUICKSTART), *set_args(tiny(tmp_path)), "--epochs", "1", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = run_dir_of(tmp_path)
    lines = result.stdout.splitlines()
    # first of all, where the run writes: a run stopped early has said it too
    params = json.loads((run / "summary.json").read_text())["params"]
    assert lines[0] == (
        f"run: {run} ({params / 1e6:.2f}M parameters, SwinT in stage1.conv2, stage2.conv2)"
    )
    end = lines.index(f"finished: {run}")
    assert lines[end + 1].startswith(f"next: swint compare {run} ")
    assert lines[end + 2].split()[:3] == ["swint", "predict", str(run)]
    assert lines[end + 3].split()[:3] == ["swint", "export", str(run)]


def launch(tmp_path: Path, *train_args: str) -> subprocess.Popen:
    """``swint train`` under paddle.distributed.launch with two CPU processes, in its own
    process group."""
    args = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2"]
    args += ["--log_dir", str(tmp_path / "log"), str(SWINT_SCRIPT), "train", *train_args]
    tmp_path.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )


def test_data_parallel_interrupt_and_resume_match_an_uninterrupted_run(tmp_path: Path) -> None:
    """SIGTERM reaches both ranks at their own moments: they still stop at the same batch,
    rank 0 keeps the epoch's sums of both, and the resumed run ends as the straight one."""
    # 3 epochs of 4 batches: a stop seen into epoch 2 leaves more than an epoch to interrupt,
    # however fast the machine
    overrides = ["training.epochs=3", "data.train_size=128", "model.replace[0].droppath=0"]
    straight = launch(
        tmp_path / "a",
        str(QUICKSTART),
        "--quiet",
        *set_args(tiny(tmp_path / "a" / "runs", *overrides)),
    )
    out, _ = straight.communicate(timeout=300)
    assert straight.returncode == 0, out[-2000:]
    stopped = launch(
        tmp_path / "b",
        str(QUICKSTART),
        "--quiet",
        *set_args(tiny(tmp_path / "b" / "runs", *overrides)),
    )
    deadline, batches = time.monotonic() + 120, None
    while time.monotonic() < deadline and batches is None:
        found = list((tmp_path / "b" / "runs").glob("*/batches.csv"))
        if found and len(found[0].read_text().splitlines()) >= 7:  # into epoch 2 (4 per epoch)
            batches = found[0]
        time.sleep(0.1)
    assert batches is not None, "training did not start"
    os.killpg(stopped.pid, signal.SIGTERM)
    out, _ = stopped.communicate(timeout=120)
    run = batches.parent
    state = json.loads((run / "checkpoints" / "last.json").read_text())
    status = json.loads((run / "summary.json").read_text())["status"]
    assert (status, state["epoch"] in (2, 3)) == ("interrupted", True), out[-2000:]
    assert state["partial"]["seen"] == 2 * 16 * state["step"]  # both ranks' images
    resumed = launch(tmp_path / "b", "--resume", str(run), "--quiet")
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out[-2000:]
    reference = run_dir_of(tmp_path / "a" / "runs")
    pd.testing.assert_frame_equal(
        learning_columns(run), learning_columns(reference), atol=1e-5, rtol=0
    )


def test_bf16_run_records_its_precision_and_differs_from_fp32(tmp_path: Path) -> None:
    """``training.precision: bf16`` trains (the recipe says bf16, env.json what ran: bf16
    where the CPU can, else fp32 with a note) and learns other numbers than fp32 does."""
    from swint_cli.nn.kernels import backend

    fp32 = train(load_recipe(QUICKSTART, tiny(tmp_path / "a")), TrainOptions(quiet=True))
    overrides = tiny(tmp_path / "b", "training.precision=bf16")
    bf16 = train(load_recipe(QUICKSTART, overrides), TrainOptions(quiet=True))
    check_run_directory(bf16.run_dir)
    env = json.loads((bf16.run_dir / "env.json").read_text())
    ran = "fp32" if backend.unavailable("bf16") else "bf16"
    assert (env["precision"], env["precision_requested"]) == (ran, "bf16")
    assert "precision: bf16" in (bf16.run_dir / "recipe.yaml").read_text()
    first, second = learning_columns(fp32.run_dir), learning_columns(bf16.run_dir)
    assert not first.equals(second) or ran == "fp32"
    np.testing.assert_allclose(second["train_loss"], first["train_loss"], rtol=0.05)


def run_files(run: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a run with its content and modification time."""
    return {
        str(path.relative_to(run)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(run.rglob("*"))
        if path.is_file()
    }


def test_resuming_a_finished_run_says_so_and_changes_no_file(tmp_path: Path) -> None:
    run = train(
        load_recipe(QUICKSTART, tiny(tmp_path, "training.epochs=1")), TrainOptions(quiet=True)
    ).run_dir
    before = run_files(run)
    result = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"{run}: already finished (1 of 1 epochs); --epochs N (more than 1) extends it" in (
        " ".join(result.output.split())
    )
    assert run_files(run) == before
    extended = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "2", "--quiet"])
    assert extended.exit_code == 0, extended.output
    assert len(pd.read_csv(run / "epochs.csv")) == 2


def test_resume_with_set_or_a_recipe_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    stopped = train(
        load_recipe(QUICKSTART, tiny(tmp_path)), TrainOptions(quiet=True), StopAfter(8)
    ).run_dir
    before = run_files(stopped)
    cases = {
        "--set training.epochs=5": ["--resume", str(stopped), "--set", "training.epochs=5"],
        f"RECIPE {QUICKSTART}": [str(QUICKSTART), "--resume", str(stopped)],
    }
    for given, args in cases.items():
        result = runner.invoke(app, ["train", *args])
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
        start = f"error: {given}: a resumed run keeps the recipe it started with"
        assert lines[0].startswith(start), lines[0]
    assert run_files(stopped) == before


def test_a_run_draws_its_curves_when_it_ends_finished_or_interrupted(tmp_path: Path) -> None:
    finished = train(
        load_recipe(QUICKSTART, tiny(tmp_path / "a", "training.epochs=2")),
        TrainOptions(quiet=True),
    )
    interrupted = train(
        load_recipe(QUICKSTART, tiny(tmp_path / "b")), TrainOptions(quiet=True), StopAfter(8)
    )
    assert (finished.status, interrupted.status) == ("finished", "interrupted")
    for run in (finished.run_dir, interrupted.run_dir):
        with Image.open(run / "curves.png") as image:
            assert image.format == "PNG" and image.size == (1200, 480)
            # drawn lines, not an empty frame: some pixels in the default colour cycle's C0
            pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
            assert (np.abs(pixels.astype(int) - (31, 119, 180)).sum(axis=1) < 30).sum() > 50
