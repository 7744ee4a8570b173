"""``swint sweep``: jobs from recipes x grid x seeds, resumable, parallel and sharded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tiny_runs import QUICKSTART, set_args, tiny
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.runs.holder import run_holder
from swint_cli.sweep import SweepSpec, prepare_sweep
from swint_cli.sweep.jobs import expand

runner = CliRunner()

# Every job: a one-epoch tiny quickstart (64 images, 4 steps) without loader workers.
TINY = [*tiny(Path("unused")), "training.epochs=1", "data.train_size=64", "data.val_size=16"]


def sweep_process(*args: str, cwd: Path) -> subprocess.Popen:
    """``swint sweep ARGS --quiet`` in a new process group, as from a shell."""
    return subprocess.Popen(
        [sys.executable, "-m", "swint_cli", "sweep", *args, "--quiet"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def runs_of(folder: Path) -> dict[str, Path]:
    """The sweep's run directories by job name (the directory name less its timestamp)."""
    found = {}
    for path in folder.iterdir():
        if (path / "recipe.yaml").is_file():
            name = yaml.safe_load((path / "recipe.yaml").read_text())["output"]["name"]
            assert name not in found, f"job {name} ran twice"
            found[name] = path
    return found


def status(run: Path) -> str:
    return json.loads((run / "summary.json").read_text())["status"]


# -- the job list ----------------------------------------------------------------------------


def test_jobs_are_recipes_times_grid_times_seeds_named_by_all_three() -> None:
    spec = SweepSpec(
        recipes=[str(QUICKSTART)],
        grid={"training.optimizer.learning_rate": ["0.01", "0.003"], "data.num_workers": ["0"]},
        overrides=["training.epochs=2"],
        seeds=[3, 7],
    )
    jobs = expand(spec)
    assert [job.name for job in jobs] == [
        "quickstart-learning_rate=0.01-num_workers=0-seed3",
        "quickstart-learning_rate=0.01-num_workers=0-seed7",
        "quickstart-learning_rate=0.003-num_workers=0-seed3",
        "quickstart-learning_rate=0.003-num_workers=0-seed7",
    ]
    assert [job.index for job in jobs] == [0, 1, 2, 3]
    assert jobs[2].grid == {"training.optimizer.learning_rate": "0.003", "data.num_workers": "0"}
    assert len({job.sha256 for job in jobs}) == 4  # seeds and values change the recipe


def test_the_output_section_does_not_change_a_jobs_hash(tmp_path: Path) -> None:
    one = expand(SweepSpec(recipes=[str(QUICKSTART)], seeds=[0]))[0]
    elsewhere = SweepSpec(recipes=[str(QUICKSTART)], overrides=["output.name=x"], seeds=[0])
    assert expand(elsewhere)[0].sha256 == one.sha256


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "training.optimizer.lr=0.1"], "error: --grid training.optimizer.lr=0.1: "),
        (["--grid", "training.epochs="], "error: --grid training.epochs: empty value"),
        (["--grid", "training.epochs=1,,2"], "error: --grid training.epochs: empty value"),
        (["--grid", "training.epochs=x"], "error: --grid training.epochs=x: "),
        (["--seeds", "0"], "error: --seeds 0: expected at least 1"),
        (["--seed-list", "1,1"], "error: --seed-list 1,1: expected distinct seeds"),
        (["--shard", "3/2"], "error: --shard 3/2: expected I/N with 1 <= I <= N"),
        (["--shard", "0/2"], "error: --shard 0/2: expected I/N with 1 <= I <= N"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_started(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["sweep", str(QUICKSTART), *args, "--quiet"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert not (tmp_path / "runs").exists()


def test_an_existing_out_directory_needs_resume(tmp_path: Path) -> None:
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "notes.txt").write_text("mine")
    args = ["sweep", str(QUICKSTART), "--out", str(tmp_path / "sweep"), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: --out {tmp_path / 'sweep'}: already exists; use --resume "
        f"{tmp_path / 'sweep'} to continue it"
    )
    assert [p.name for p in (tmp_path / "sweep").iterdir()] == ["notes.txt"]


def test_resume_refuses_recipes_that_changed_naming_the_first_difference(tmp_path: Path) -> None:
    recipe = tmp_path / "quick.yaml"
    shutil.copy(QUICKSTART, recipe)
    spec = SweepSpec(recipes=[str(recipe)], seeds=[0, 1])
    folder, _, _ = prepare_sweep(spec, tmp_path / "sweep", None, (1, 1))
    before = (folder / "sweep.yaml").read_text()
    recipe.write_text(recipe.read_text().replace("epochs: ", "epochs: 1 #"))
    result = runner.invoke(app, ["sweep", "--resume", str(folder), "--quiet"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {folder / 'sweep.yaml'}: the recipes changed since it started "
        f"(job quick-seed0: its recipe {recipe} now resolves differently)"
    )
    assert (folder / "sweep.yaml").read_text() == before
    assert sorted(p.name for p in folder.iterdir()) == ["sweep.yaml"]


# -- running -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-at-a-time sweep: learning rate 0.002 (trains) and 1e30 (its loss is
    not finite: the job fails), seeds 0 and 1."""
    root = tmp_path_factory.mktemp("sweep")
    args = [
        str(QUICKSTART),
        "--grid",
        "training.optimizer.learning_rate=0.002,1e30",
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--out",
        str(root / "sweep"),
        *set_args(TINY),
    ]
    process = sweep_process(*args, cwd=root)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 1, out + err  # two jobs failed
    assert "failed: quickstart-learning_rate=1e30-seed0" in out
    return root / "sweep"


def test_every_job_runs_once_into_its_own_run_directory(sweep: Path) -> None:
    recorded = yaml.safe_load((sweep / "sweep.yaml").read_text())
    names = [job["name"] for job in recorded["jobs"]]
    runs = runs_of(sweep)
    assert sorted(runs) == sorted(names)
    for name, run in runs.items():
        assert run.name.startswith(f"{name}-")
        expected = "finished" if "0.002" in name else "failed: non-finite loss"
        assert status(run) == expected
        recipe = yaml.safe_load((run / "recipe.yaml").read_text())
        assert recipe["training"]["seed"] == int(name.rsplit("seed", 1)[1])
        assert json.loads((run / "env.json").read_text())["threads"] == max(
            1, len(os.sched_getaffinity(0)) // 2
        )
        assert (sweep / "logs" / f"{name}.log").is_file()


def test_resume_skips_finished_and_failed_jobs_unless_asked(sweep: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(sweep, tmp_path / "sweep"))
    before = {name: run.name for name, run in runs_of(copy).items()}
    result = runner.invoke(app, ["sweep", "--resume", str(copy), "--quiet"])
    assert result.exit_code == 1, result.output  # the failed jobs stay failed
    assert "finished 2/4, running 0, failed 2, left 0" in result.output
    assert {name: run.name for name, run in runs_of(copy).items()} == before
    retried = runner.invoke(app, ["sweep", "--resume", str(copy), "--retry-failed", "--quiet"])
    assert retried.exit_code == 1, retried.output
    assert "retry: quickstart-learning_rate=1e30-seed0" in retried.output
    assert sorted(p.name for p in (copy / "attempts").iterdir()) == sorted(
        before[name] for name in before if "1e30" in name
    )


def test_compare_takes_the_sweep_directory_as_its_runs(sweep: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(sweep), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "report" / "compare.csv")
    assert list(table["group"]) == [
        "quickstart-learning_rate=0.002",
        "quickstart-learning_rate=1e30",
    ]
    assert list(table["n"]) == [2, 0]  # the failed jobs have no figure, and say so
    assert table["seeds"][0] == "0 1" and pd.isna(table["verdict"][1])
    assert "2 run(s) without a finite val_acc1 left out" in result.output


def test_sigterm_stops_every_job_resumably_and_resume_finishes_them(tmp_path: Path) -> None:
    """SIGTERM to the sweep: each running job checkpoints and is interrupted, the job not
    yet started stays so, the sweep exits 130; --resume continues the two from their
    checkpoints to the end and runs the third."""
    args = [str(QUICKSTART), "--seeds", "3", "--jobs", "2", "--out", str(tmp_path / "sweep")]
    process = sweep_process(*args, *set_args([*TINY, "training.epochs=20"]), cwd=tmp_path)
    deadline, started = time.monotonic() + 180, False
    while time.monotonic() < deadline and not started:
        tables = list((tmp_path / "sweep").glob("*/batches.csv"))
        started = len(tables) == 2 and all(len(t.read_text().splitlines()) >= 6 for t in tables)
        time.sleep(0.2)
    assert started, "the jobs did not start"
    os.kill(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 130, out + err
    runs = runs_of(tmp_path / "sweep")
    assert sorted(status(run) for run in runs.values()) == ["interrupted", "interrupted"]
    stopped_at = {name: len(pd.read_csv(run / "batches.csv")) for name, run in runs.items()}

    resumed = runner.invoke(
        app, ["sweep", "--resume", str(tmp_path / "sweep"), "--quiet"], catch_exceptions=False
    )
    assert resumed.exit_code == 0, resumed.output
    after = runs_of(tmp_path / "sweep")
    assert {name: after[name].name for name in runs} == {
        name: run.name for name, run in runs.items()
    }  # continued in place, not started again
    assert sorted(after) == [f"quickstart-seed{seed}" for seed in range(3)]
    for name, run in after.items():
        assert status(run) == "finished"
        batches = pd.read_csv(run / "batches.csv")
        assert len(batches) == 20 * 4 > stopped_at.get(name, 0)


def test_two_shards_share_one_sweep_directory_and_run_each_job_once(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = [str(QUICKSTART), "--seeds", "3", "--out", str(out), *set_args(TINY)]
    shards = [sweep_process(*args, "--shard", f"{i}/2", cwd=tmp_path) for i in (1, 2)]
    results = [shard.communicate(timeout=600) for shard in shards]
    for shard, (stdout, stderr) in zip(shards, results, strict=True):
        assert shard.returncode == 0, stdout + stderr
    runs = runs_of(out)
    assert sorted(runs) == [f"quickstart-seed{seed}" for seed in range(3)]
    assert all(status(run) == "finished" for run in runs.values())
    first, second = (stdout for stdout, _ in results)
    assert "finished 2/2" in first and "finished 1/1" in second  # jobs 0, 2 and job 1


def test_resume_beside_a_live_sweep_leaves_its_jobs_alone_and_every_job_runs_once(
    tmp_path: Path,
) -> None:
    """A second ``--resume`` while the first sweep still runs (a requeued array task whose
    first attempt lives on): it runs only what nobody runs, and both end with every job
    finished once, none moved to attempts/ or started twice."""
    out = tmp_path / "sweep"
    args = [str(QUICKSTART), "--seeds", "2", "--out", str(out)]
    first = sweep_process(*args, *set_args([*TINY, "training.epochs=6"]), cwd=tmp_path)
    deadline, table = time.monotonic() + 180, None
    while time.monotonic() < deadline and table is None and first.poll() is None:
        tables = list(out.glob("quickstart-seed0-*/batches.csv")) if out.exists() else []
        if tables and len(tables[0].read_text().splitlines()) >= 3:
            table = tables[0]
        time.sleep(0.05)
    assert table is not None, "the first sweep's job did not start"
    second = sweep_process("--resume", str(out), cwd=tmp_path)
    results = [process.communicate(timeout=600) for process in (second, first)]
    for process, (stdout, stderr) in zip((second, first), results, strict=True):
        assert process.returncode == 0, stdout + stderr
    second_out = results[0][0]
    assert "running elsewhere: quickstart-seed0 (pid " in second_out
    assert "finished: quickstart-seed0" not in second_out
    assert "finished: quickstart-seed0" in results[1][0]
    assert not (out / "attempts").exists()
    runs = runs_of(out)  # fails if a job ran twice
    assert sorted(runs) == ["quickstart-seed0", "quickstart-seed1"]
    for run in runs.values():
        assert status(run) == "finished"
        batches = pd.read_csv(run / "batches.csv")
        assert list(zip(batches["epoch"], batches["step"], strict=True)) == [
            (e, s) for e in range(1, 7) for s in range(4)
        ]


def test_a_killed_sweep_shows_its_dead_job_as_crashed_and_resume_finishes_it(
    tmp_path: Path,
) -> None:
    """SIGKILL of the sweep and its job (a lost node): the job's summary stays ``running``;
    readers call it crashed and ``--resume`` continues it from its checkpoint, every row
    once."""
    out = tmp_path / "sweep"
    args = [str(QUICKSTART), "--seeds", "1", "--out", str(out)]
    process = sweep_process(*args, *set_args([*TINY, "training.epochs=20"]), cwd=tmp_path)
    deadline, started = time.monotonic() + 180, False
    while time.monotonic() < deadline and not started and process.poll() is None:
        tables = list(out.glob("*/batches.csv")) if out.exists() else []
        started = bool(tables) and len(tables[0].read_text().splitlines()) >= 7  # epoch 2
        time.sleep(0.05)
    assert started, "the job did not start"
    (run,) = runs_of(out).values()
    job = json.loads((run / "lock").read_text())["pid"]  # its own process group
    process.kill()
    os.kill(job, signal.SIGKILL)
    process.communicate()
    deadline = time.monotonic() + 30
    while run_holder(run) is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # the job is not our child: the kernel ends it in its own time
    assert run_holder(run) is None
    assert status(run) == "running"
    shown = runner.invoke(app, ["compare", str(out), "--no-group", "--out", str(tmp_path / "c")])
    assert shown.exit_code == 0, shown.output
    assert list(pd.read_csv(tmp_path / "c" / "compare.csv")["status"]) == ["crashed"]

    resumed = runner.invoke(app, ["sweep", "--resume", str(out), "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert "resume (crashed): quickstart-seed0" in resumed.output
    assert runs_of(out) == {"quickstart-seed0": run}  # continued in place
    batches = pd.read_csv(run / "batches.csv")
    assert list(zip(batches["epoch"], batches["step"], strict=True)) == [
        (e, s) for e in range(1, 21) for s in range(4)
    ]
