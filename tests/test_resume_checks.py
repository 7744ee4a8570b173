"""``swint train --resume`` continues only a whole run, and changes nothing when it refuses."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import paddle
import pandas as pd
import pytest
from conftest import TEST_THREADS
from tiny_runs import QUICKSTART, StopAfter, tiny
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.recipe import load_recipe
from swint_cli.runs import RunError
from swint_cli.runs.layout import RECIPE
from swint_cli.train import TrainOptions, train

runner = CliRunner()


def interrupted_run(runs: Path, *extra: str) -> Path:
    """A tiny quickstart run stopped before batch 2 of epoch 2 (6 batches per epoch)."""
    recipe = load_recipe(QUICKSTART, tiny(runs, *extra))
    result = train(recipe, TrainOptions(quiet=True), StopAfter(8))
    assert result.status == "interrupted", result.message
    return result.run_dir


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return interrupted_run(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny run, never interrupted: what every resume must end as."""
    recipe = load_recipe(QUICKSTART, tiny(tmp_path_factory.mktemp("straight")))
    return train(recipe, TrainOptions(quiet=True)).run_dir


def threads_of(run: Path) -> int:
    """The CPU thread count the run's last session computed with (env.json)."""
    return json.loads((run / "env.json").read_text())["threads"]


def resume(run: Path) -> None:
    """``swint train --resume run`` at the tests' thread count, so that it computes under
    the settings the run was started with (conftest's ``TEST_THREADS``): both halves of a
    resumed run, and the uninterrupted run it is held against, use the same count."""
    started_with = threads_of(run)
    result = runner.invoke(
        app, ["--threads", str(TEST_THREADS), "train", "--resume", str(run), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert started_with == threads_of(run) == TEST_THREADS


def assert_same_learning(run: Path, reference: Path) -> None:
    """Every epoch's and every batch's learned values of ``run`` equal ``reference``'s (to
    float32 rounding of the printed tables), computed at the same thread count."""
    assert threads_of(reference) == threads_of(run)
    learned = ["epoch", "lr", "train_loss", "train_acc1", "val_loss", "val_acc1", "val_acc5"]
    pd.testing.assert_frame_equal(
        pd.read_csv(run / "epochs.csv")[learned],
        pd.read_csv(reference / "epochs.csv")[learned],
        atol=1e-5,
        rtol=0,
    )
    per_batch = ["epoch", "step", "loss", "acc1", "batch_size"]
    pd.testing.assert_frame_equal(
        pd.read_csv(run / "batches.csv")[per_batch],
        pd.read_csv(reference / "batches.csv")[per_batch],
        atol=1e-5,
        rtol=0,
    )


@pytest.fixture
def run(stopped: Path, tmp_path: Path) -> Path:
    """A fresh copy of the interrupted run for one test to damage."""
    return Path(shutil.copytree(stopped, tmp_path / stopped.name))


def contents(run: Path) -> dict[str, str]:
    """Every file of the run and its sha256, to show a refusal changed nothing."""
    return {
        str(path.relative_to(run)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run.rglob("*"))
        if path.is_file()
    }


def refused(run: Path, *needles: str) -> None:
    """Resuming ``run`` fails with one error line holding ``needles``, and changes nothing."""
    before = contents(run)
    result = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert contents(run) == before


def test_the_intact_copy_resumes_to_the_uninterrupted_result(run: Path, straight: Path) -> None:
    resume(run)
    assert len(pd.read_csv(run / "batches.csv")) == 18  # 3 epochs of 6 batches
    assert_same_learning(run, straight)


def test_another_runs_checkpoint_is_refused(run: Path, tmp_path: Path) -> None:
    other = interrupted_run(tmp_path / "other", "model.replace[0].num_heads=4")
    for name in ("last.safetensors", "last.optimizer.safetensors", "last.json"):
        shutil.copy(other / "checkpoints" / name, run / "checkpoints" / name)
    refused(run, "last.safetensors", "does not fit the recipe's model", "relative_position")


def test_a_weights_file_from_another_checkpoint_is_refused(run: Path, tmp_path: Path) -> None:
    other = interrupted_run(tmp_path / "other")
    shutil.copy(other / "checkpoints" / "last.safetensors", run / "checkpoints")
    refused(run, "last.safetensors", "from another checkpoint")


def test_an_edited_recipe_is_refused_naming_the_key(run: Path) -> None:
    text = (run / RECIPE).read_text()
    (run / RECIPE).write_text(text.replace("batch_size: 16", "batch_size: 32"))
    refused(run, "recipe.yaml", "edited since the run started", "training.batch_size: 16 -> 32")


def test_a_recipe_edited_into_an_invalid_one_is_one_line(run: Path) -> None:
    text = (run / RECIPE).read_text()
    (run / RECIPE).write_text(text.replace("batch_size: 16", "batch_size: many"))
    refused(run, "recipe.yaml", "training.batch_size: expected an integer")


def test_a_comment_added_to_the_recipe_is_no_edit(run: Path) -> None:
    (run / RECIPE).write_text("# notes on this run\n" + (run / RECIPE).read_text())
    result = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    assert result.exit_code == 0, result.output


def test_a_deleted_epochs_table_is_refused(run: Path) -> None:
    (run / "epochs.csv").unlink()
    refused(run, "epochs.csv", "has no epochs but the checkpoint is at epoch 2")


def test_a_batches_table_missing_rows_is_refused(run: Path) -> None:
    lines = (run / "batches.csv").read_text().splitlines(keepends=True)
    (run / "batches.csv").write_text("".join(lines[:1] + lines[3:]))  # rows 1-2 gone
    refused(run, "batches.csv", "does not hold the 8 batch rows")


def test_a_damaged_optimizer_state_is_refused(run: Path) -> None:
    (run / "checkpoints" / "last.optimizer.safetensors").write_bytes(b"\x00" * 16)
    refused(run, "last.optimizer.safetensors", "not a readable safetensors file")


def test_more_epochs_on_resume_are_recorded(run: Path) -> None:
    result = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    assert load_recipe(run / RECIPE).training.epochs == 4
    assert json.loads((run / "run.json").read_text())["recipe"]["training"]["epochs"] == 4
    again = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "5", "--quiet"])
    assert again.exit_code == 0, again.output
    assert len(pd.read_csv(run / "epochs.csv")) == 5


def older_format(run: Path) -> None:
    """Rewrite a run as swint wrote runs before run.json and safetensors checkpoints:
    ``paddle.save`` pickles of tensors and a position without ``batches_done``."""
    from safetensors.numpy import load_file

    folder = run / "checkpoints"
    for stem, old in (("last", "last.pdparams"), ("best", "best.pdparams")):
        arrays = load_file(str(folder / f"{stem}.safetensors"))
        paddle.save({k: paddle.to_tensor(v) for k, v in arrays.items()}, str(folder / old))
        (folder / f"{stem}.safetensors").unlink()
    optimizer = load_file(str(folder / "last.optimizer.safetensors"))
    paddle.save({k: paddle.to_tensor(v) for k, v in optimizer.items()}, str(folder / "last.pdopt"))
    (folder / "last.optimizer.safetensors").unlink()
    position = json.loads((folder / "last.json").read_text())
    del position["checkpoint_id"], position["batches_done"]
    (folder / "last.json").write_text(json.dumps(position))
    (run / "run.json").unlink()


def test_a_run_in_the_older_format_resumes_to_the_same_result(run: Path, straight: Path) -> None:
    older_format(run)
    resume(run)
    assert_same_learning(run, straight)
    assert (run / "run.json").is_file()  # written on resume: export needs no data now


@pytest.mark.parametrize(
    ("field", "value"),
    [("epoch", "2"), ("step", -1), ("partial", {"loss": "x"}), ("best_val_acc1", 0.5)],
    ids=["text-epoch", "negative-step", "garbage-sums", "unknown-field"],
)
def test_a_damaged_position_is_refused(run: Path, field: str, value: object) -> None:
    position_file = run / "checkpoints" / "last.json"
    position = json.loads(position_file.read_text())
    position[field] = value
    position_file.write_text(json.dumps(position))
    refused(run, "last.json", "not a checkpoint position", field)


def test_a_recipe_reached_through_a_symlink_out_of_the_run_is_refused(
    run: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "recipe-elsewhere.yaml"
    (run / RECIPE).rename(outside)
    (run / RECIPE).symlink_to(outside)
    refused(run, "recipe.yaml", "points outside its run directory")


def test_a_failing_recorder_still_lets_the_others_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk error while checkpointing at an interrupt is one error line naming the run,
    and the summary still gets its final status."""
    from swint_cli.train.recorders import CheckpointWriter

    def full_disk(self, outcome, position) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CheckpointWriter, "finish", full_disk)
    recipe = load_recipe(QUICKSTART, tiny(tmp_path / "runs"))
    with pytest.raises(RunError, match=r"cannot record the end .*No space left on device"):
        train(recipe, TrainOptions(quiet=True), StopAfter(3))
    (interrupted,) = (tmp_path / "runs").iterdir()
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["status"] == "interrupted"
