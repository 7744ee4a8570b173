"""Run directory pieces: crash-safe tables, unique directories, the learning-rate schedule."""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from swint_cli.files import read_arrays, write_arrays
from swint_cli.recipe.schema import Schedule
from swint_cli.runs import RunDirectory, RunError, checkpoint_files
from swint_cli.runs.checkpoint_files import find_weights, read_training_state, save_training_state
from swint_cli.runs.tables import CsvTable, read_table
from swint_cli.train.schedule import learning_rate


def test_table_rows_are_readable_while_open(tmp_path: Path) -> None:
    table = CsvTable(tmp_path / "t.csv", ["epoch", "loss"])
    table.open()
    table.append({"epoch": 1, "loss": 0.5})
    frame = pd.read_csv(tmp_path / "t.csv")  # the writer has not closed the file
    assert frame.to_dict("list") == {"epoch": [1], "loss": [0.5]}
    table.close()


def test_repair_drops_cut_line_and_rows_to_redo_and_keeps_one_header(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("epoch,loss\n1,0.5\n2,0.4\n3,0.3\n4,0.")  # killed mid-write
    table = CsvTable(path, ["epoch", "loss"])
    assert table.repair(lambda row: int(row["epoch"]) < 3) == 2
    table.open()
    table.append({"epoch": 3, "loss": 0.25})
    table.close()
    assert path.read_text().count("epoch,loss") == 1
    frame = pd.read_csv(path)
    assert frame["epoch"].tolist() == [1, 2, 3]
    assert frame["loss"].tolist() == [0.5, 0.4, 0.25]


def test_run_directories_are_never_reused(tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5)
    first = RunDirectory.create(tmp_path, "demo", now)
    second = RunDirectory.create(tmp_path, "demo", now)
    assert first.path.name == "demo-20260102-030405"
    assert second.path.name == "demo-20260102-030405-2"
    assert (first.path / "checkpoints").is_dir()


def test_unwritable_runs_dir_is_a_run_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunError, match="cannot create runs directory"):
        RunDirectory.create(blocker / "runs", "demo")


def test_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text("{}")
    with pytest.raises(RunError, match="not a resumable run"):
        RunDirectory.existing(tmp_path)


def test_cosine_schedule_warms_up_then_anneals_to_zero() -> None:
    schedule = Schedule(name="cosine", warmup_epochs=1)
    rates = [learning_rate(0.1, schedule, 3, e, s, 10) for e in (1, 2, 3) for s in range(10)]
    assert rates[0] == pytest.approx(0.01)
    assert rates[9] == pytest.approx(0.1)
    assert rates[10] == pytest.approx(0.1)
    assert rates[-1] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 19 / 20)))
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))


def test_step_schedule_decays_every_step_size_epochs() -> None:
    schedule = Schedule(name="step", step_size=2, gamma=0.5)
    assert [learning_rate(1.0, schedule, 6, e, 0, 5) for e in range(1, 7)] == [
        1.0,
        1.0,
        0.5,
        0.5,
        0.25,
        0.25,
    ]


def _arrays(value: float) -> dict[str, np.ndarray]:
    return {"w": np.full((2, 2), value, dtype="float32")}


def test_a_save_cut_before_its_commit_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path, "ckpt").path
    save_training_state(run, _arrays(1.0), _arrays(10.0), {"epoch": 2})
    # the next save wrote its staged weights, then the process died before last.json
    write_arrays(run / "checkpoints" / f"last.{'a' * 32}.safetensors", _arrays(2.0), {})
    state = read_training_state(run)
    assert state.position == {"epoch": 2} and state.model["w"][0, 0] == 1.0
    save_training_state(run, _arrays(3.0), _arrays(30.0), {"epoch": 3})
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["last.json", "last.optimizer.safetensors", "last.safetensors"]


def test_a_save_cut_after_its_commit_is_found_under_its_staged_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunDirectory.create(tmp_path, "ckpt").path
    save_training_state(run, _arrays(1.0), _arrays(10.0), {"epoch": 2})

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies between last.json and the renames

    monkeypatch.setattr(checkpoint_files, "os", SimpleNamespace(replace=killed))
    with pytest.raises(KeyboardInterrupt):
        save_training_state(run, _arrays(2.0), _arrays(20.0), {"epoch": 3})
    monkeypatch.undo()
    state = read_training_state(run)
    assert state.position == {"epoch": 3}
    assert state.model["w"][0, 0] == 2.0 and state.optimizer["w"][0, 0] == 20.0
    weights, _ = find_weights(run, "last")
    assert weights.name.startswith("last.") and read_arrays(weights)[0]["w"][0, 0] == 2.0


def test_rows_without_a_whole_epoch_or_step_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "batches.csv"
    path.write_text("epoch,step,loss\n1,0,0.5\n,1,0.4\n1,nan,0.3\n1.5,2,0.2\n1,3,0.1\n")
    frame, problems = read_table(path, ["epoch", "step", "loss"])
    assert frame["step"].tolist() == [0, 3]
    assert problems == ["batches.csv: 3 unreadable rows skipped"]
