"""The training loop's recorders, driven by hand (no training needed to test what they write),
and the table headers of one real tiny run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import paddle
import pandas as pd
import pytest
from tiny_runs import QUICKSTART, tiny

from swint_cli.recipe import load_recipe
from swint_cli.runs import BATCH_COLUMNS, EPOCH_COLUMNS, RunDirectory
from swint_cli.runs.checkpoint_files import read_training_state
from swint_cli.train import TrainOptions, train
from swint_cli.train.position import Position
from swint_cli.train.recorders import (
    BatchRecord,
    BatchTable,
    CheckpointWriter,
    EpochRecord,
    EpochTable,
    Outcome,
    PlainReporter,
    RunFacts,
    Summary,
)


def batch(step: int, step_ms: float, warmup: bool = False) -> BatchRecord:
    return BatchRecord(
        epoch=1,
        step=step,
        loss=0.5,
        acc1=0.25,
        batch_size=4,
        data_ms=1.0,
        step_ms=step_ms,
        timestamp=1700000000.0 + step,
        warmup=warmup,
        images_per_second=80.0,
    )


ROW = {
    "epoch": 1,
    "lr": 0.01,
    "train_loss": 0.5,
    "train_acc1": 0.25,
    "val_loss": 0.75,
    "val_acc1": 0.5,
    "val_acc5": 1.0,
    "epoch_seconds": 2.0,
    "images_per_second": 80.0,
}
FINISHED = Outcome(status="finished", exit_code=0)


@pytest.fixture
def run(tmp_path: Path) -> RunDirectory:
    return RunDirectory.create(tmp_path, "unit")


def test_batch_table_writes_one_row_per_batch(run: RunDirectory) -> None:
    table = BatchTable(run.batches)
    table.start(Position())
    table.batch_end(batch(0, 12.5, warmup=True))
    table.batch_end(batch(1, 10.0))
    table.finish(FINISHED, Position())
    frame = pd.read_csv(run.batches.path)
    assert list(frame.columns) == list(BATCH_COLUMNS)
    assert frame["step"].tolist() == [0, 1] and frame["warmup"].tolist() == [1, 0]
    assert frame["step_ms"].tolist() == [12.5, 10.0] and frame["batch_size"].tolist() == [4, 4]


def test_epoch_table_writes_one_row_per_epoch(run: RunDirectory) -> None:
    table = EpochTable(run.epochs)
    table.start(Position())
    table.epoch_end(EpochRecord(row=ROW, improved=True), Position(epoch=2))
    table.finish(FINISHED, Position(epoch=2))
    frame = pd.read_csv(run.epochs.path)
    assert list(frame.columns) == list(EPOCH_COLUMNS)
    assert frame.iloc[0].to_dict() == pytest.approx(ROW)


def test_epoch_table_refuses_a_row_that_is_not_its_columns(run: RunDirectory) -> None:
    table = EpochTable(run.epochs)
    table.start(Position())
    without_throughput = {k: v for k, v in ROW.items() if k != "images_per_second"}
    for row in (without_throughput, {**ROW, "val_acc3": 1.0}):
        with pytest.raises(ValueError, match=r"does not match the columns of epochs\.csv"):
            table.epoch_end(EpochRecord(row=row, improved=False), Position(epoch=2))
    table.finish(FINISHED, Position())
    assert run.epochs.path.read_text().count("\n") == 1  # the header only


# The columns users read (the README's table of run files; compare and pandas scripts).
EPOCHS_HEADER = "epoch,lr,train_loss,train_acc1,val_loss,val_acc1,val_acc5,epoch_seconds"
EPOCHS_HEADER += ",images_per_second"
BATCHES_HEADER = "epoch,step,loss,acc1,batch_size,data_ms,step_ms,timestamp,warmup"


def test_a_real_run_writes_the_defined_table_headers(tmp_path: Path) -> None:
    recipe = load_recipe(QUICKSTART, tiny(tmp_path, "training.epochs=1"))
    run = train(recipe, TrainOptions(quiet=True, limit_batches=2)).run_dir
    epochs, batches = (
        (run / name).read_text().splitlines() for name in ("epochs.csv", "batches.csv")
    )
    assert epochs[0] == ",".join(EPOCH_COLUMNS) == EPOCHS_HEADER
    assert batches[0] == ",".join(BATCH_COLUMNS) == BATCHES_HEADER
    assert len(epochs) == 2 and len(batches) == 3  # a row per epoch, per batch


def test_summary_follows_the_run_and_times_steps_without_warmup(run: RunDirectory) -> None:
    facts = RunFacts(
        task="classification",
        key_metric="val_acc1",
        backbone="small_cnn",
        params=1234,
        swint_slots=2,
        gflops_per_image=0.07641,
        epochs=3,
    )
    summary, batches = Summary(run, facts), BatchTable(run.batches)
    batches.start(Position())
    summary.start(Position())
    assert json.loads((run.path / "summary.json").read_text())["status"] == "running"
    for step, ms in enumerate([1000.0, 10.0, 20.0, 30.0, 40.0]):
        batches.batch_end(batch(step, ms, warmup=step == 0))
    after = Position(epoch=2, best_score=0.5, final_score=0.5, wall_seconds=12.345)
    summary.epoch_end(EpochRecord(row=ROW, improved=True), after)
    summary.finish(Outcome(status="interrupted", exit_code=130), after)
    written = json.loads((run.path / "summary.json").read_text())
    # 10, 20, 30, 40 ms: median 25, 90th percentile 30 + 0.7 * 10 (linear interpolation)
    assert written == {
        "run": run.path.name,
        "task": "classification",
        "backbone": "small_cnn",
        "params": 1234,
        "swint_slots": 2,
        "gflops_per_image": 0.0764,
        "epochs_done": 1,
        "epochs": 3,
        "best_val_acc1": 0.5,
        "final_val_acc1": 0.5,
        "median_step_ms": 25.0,
        "p90_step_ms": pytest.approx(37.0),
        "wall_seconds": 12.35,
        "status": "interrupted",
    }


def trained_pair() -> tuple[paddle.nn.Layer, paddle.optimizer.Optimizer]:
    model = paddle.nn.Sequential(paddle.nn.Linear(3, 4), paddle.nn.BatchNorm1D(4))
    optimizer = paddle.optimizer.Momentum(0.1, parameters=model.parameters())
    model(paddle.randn([5, 3])).sum().backward()
    optimizer.step()
    return model, optimizer


def test_checkpoints_write_last_and_best_that_read_back(run: RunDirectory) -> None:
    model, optimizer = trained_pair()
    recorder = CheckpointWriter(run.path, model, optimizer)
    after = Position(epoch=2, batches_done=6, best_score=0.5, final_score=0.5)
    recorder.epoch_end(EpochRecord(row=ROW, improved=True), after)
    names = sorted(p.name for p in run.checkpoints.iterdir())
    assert names == [
        "best.safetensors",
        "last.json",
        "last.optimizer.safetensors",
        "last.safetensors",
    ]
    state = read_training_state(run.path)
    assert state.position == after.to_json()
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(state.model[name], value.numpy())
    velocities = sorted(state.optimizer)
    trained = [name for name, p in model.named_parameters() if not p.stop_gradient]
    assert velocities == sorted(f"{name}::_velocity_0" for name in trained)

    best = (run.checkpoints / "best.safetensors").stat().st_mtime_ns
    recorder.epoch_end(EpochRecord(row=ROW, improved=False), Position(epoch=3, batches_done=12))
    assert (run.checkpoints / "best.safetensors").stat().st_mtime_ns == best
    assert read_training_state(run.path).position["epoch"] == 3


def test_checkpoints_save_the_position_of_an_interrupt_only(run: RunDirectory) -> None:
    model, optimizer = trained_pair()
    recorder = CheckpointWriter(run.path, model, optimizer)
    recorder.finish(FINISHED, Position(epoch=2))
    assert not any(run.checkpoints.iterdir())  # the epoch's checkpoint is already written
    stopped = Position(epoch=2, step=3, batches_done=9, partial={"loss": 1.5, "seen": 12.0})
    recorder.finish(Outcome(status="interrupted", exit_code=130, checkpoint=True), stopped)
    assert read_training_state(run.path).position == stopped.to_json()


def test_plain_reporter_prints_every_n_batches_and_each_epoch() -> None:
    out = io.StringIO()
    reporter = PlainReporter(every=2, stream=out)
    reporter.epoch_start(1, 3, 4)
    for step in range(4):
        reporter.batch_end(batch(step, 10.0))
    reporter.epoch_end(EpochRecord(row=ROW, improved=True), Position(epoch=2))
    assert out.getvalue().splitlines() == [
        "epoch 1/3 step 2/4 loss 0.5000 acc1 0.250 80.0 img/s",
        "epoch 1/3 step 4/4 loss 0.5000 acc1 0.250 80.0 img/s",
        "epoch 1/3: train loss 0.5000 acc1 0.250 | val loss 0.7500 acc1 0.500 acc5 1.000 | "
        "2.0 s, 80.0 img/s",
    ]
