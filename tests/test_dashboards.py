"""output.loggers: a run's scalars in TensorBoard and VisualDL event files, read back."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest
from tiny_runs import QUICKSTART, tiny

from swint_cli.errors import UserError
from swint_cli.recipe import load_recipe
from swint_cli.train import TrainOptions, train
from swint_cli.train.recorders.dashboards import check_loggers


def tensorboard_scalars(folder: Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}`` of every scalar in the TensorBoard event files in ``folder``:
    each file a sequence of records (length, its CRC, an ``Event`` protobuf, its CRC)."""
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    scalars: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars


def visualdl_scalars(folder: Path) -> dict[str, dict[int, float]]:
    """The same, through VisualDL's own reader of its log files."""
    visualdl = pytest.importorskip("visualdl")
    (log,) = folder.glob("vdlrecords.*.log")
    reader = visualdl.LogReader(file_path=str(log))
    return {
        tag: {record.id: record.value for record in reader.get_data("scalar", tag)}
        for tag in reader.get_tags()["scalar"]
    }


READERS = {"tensorboard": tensorboard_scalars, "visualdl": visualdl_scalars}


@pytest.mark.parametrize("logger", sorted(READERS))
def test_a_run_writes_every_epoch_column_and_the_batch_scalars(tmp_path: Path, logger: str) -> None:
    overrides = tiny(tmp_path / "runs", f"output.loggers=[{logger}]", "training.epochs=2")
    result = train(load_recipe(QUICKSTART, overrides), TrainOptions(quiet=True))
    scalars = READERS[logger](result.run_dir / logger)
    epochs = pd.read_csv(result.run_dir / "epochs.csv")
    for column in epochs.columns.drop("epoch"):
        assert scalars[f"epoch/{column}"] == pytest.approx(
            dict(zip(epochs["epoch"], epochs[column], strict=True)), rel=1e-5, abs=1e-6
        ), column
    batches = pd.read_csv(result.run_dir / "batches.csv")
    steps = (batches["epoch"] - 1) * 6 + batches["step"]  # 96 images in batches of 16
    for column in ("loss", "acc1", "step_ms"):
        assert scalars[f"batch/{column}"] == pytest.approx(
            dict(zip(steps, batches[column], strict=True)), rel=1e-5, abs=1e-6
        ), column


def test_a_missing_writer_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    with pytest.raises(UserError, match=r"^output\.loggers: tensorboard needs tensorboardX; "):
        check_loggers(["tensorboard"])
    check_loggers([])  # none chosen: nothing needed
