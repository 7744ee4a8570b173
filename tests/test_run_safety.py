"""Run directories are safe to share: no file in them, or reached through them, runs code.

Each case plants a pickle that would write a marker file when unpickled (as ``paddle.load``
would do) and runs the command a user would run on the run directory.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from assertions import one_error_line
from PIL import Image
from tiny_runs import QUICKSTART, set_args, tiny
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.recipe import load_recipe
from swint_cli.train import TrainOptions, train

runner = CliRunner()


class Planted:
    """Unpickling this calls ``exec``, which writes ``marker``: code run by a data file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def plant(path: Path, marker: Path) -> Path:
    """A ``paddle.save``-like state dict file whose unpickling runs code."""
    path.write_bytes(pickle.dumps({"fc.weight": Planted(marker)}))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch tiny quickstart run."""
    runs = tmp_path_factory.mktemp("runs")
    result = train(load_recipe(QUICKSTART, tiny(runs)), TrainOptions(quiet=True, epochs=1))
    assert result.exit_code == 0, result.message
    return result.run_dir


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "image.png"
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(path)
    return path


def older_run_with_planted_checkpoints(trained: Path, folder: Path, marker: Path) -> Path:
    """The run as an older swint wrote it (pickled .pdparams/.pdopt checkpoints), each
    checkpoint replaced by a planted pickle."""
    run = folder / "planted-run"
    shutil.copytree(trained, run, ignore=shutil.ignore_patterns("*.safetensors", "run.json"))
    for name in ("best.pdparams", "last.pdparams", "last.pdopt"):
        plant(run / "checkpoints" / name, marker)
    position = json.loads((run / "checkpoints" / "last.json").read_text())
    for key in ("checkpoint_id", "batches_done"):
        position.pop(key)
    (run / "checkpoints" / "last.json").write_text(json.dumps(position))
    return run


def assert_refused(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    one_error_line(result.output, *needles, alone=False)


@pytest.mark.parametrize("command", ["predict", "export", "resume"])
def test_a_planted_checkpoint_runs_no_code(
    trained: Path, tmp_path: Path, image: Path, command: str
) -> None:
    marker = tmp_path / "marker"
    run = older_run_with_planted_checkpoints(trained, tmp_path, marker)
    args = {
        "predict": ["predict", str(run), str(image)],
        "export": ["export", str(run)],
        "resume": ["train", "--resume", str(run)],
    }[command]
    result = runner.invoke(app, args)
    assert not marker.exists(), "unpickling the checkpoint ran code"
    assert_refused(result, ".pdparams", "refused to load builtins.exec")


def test_planted_weights_named_by_a_recipe_run_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    weights = plant(tmp_path / "weights.pdparams", marker)
    overrides = [*tiny(tmp_path / "runs"), f"model.weights={weights}"]
    result = runner.invoke(app, ["train", str(QUICKSTART), *set_args(overrides)])
    assert not marker.exists(), "unpickling the weights ran code"
    assert_refused(result, "weights.pdparams", "refused to load builtins.exec")


@pytest.mark.parametrize("link", ["file", "folder"])
def test_checkpoints_reached_through_a_symlink_out_of_the_run_are_refused(
    trained: Path, tmp_path: Path, image: Path, link: str
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    outside = tmp_path / "elsewhere"
    shutil.move(run / "checkpoints", outside)
    if link == "folder":
        (run / "checkpoints").symlink_to(outside, target_is_directory=True)
    else:
        (run / "checkpoints").mkdir()
        for file in outside.iterdir():
            (run / "checkpoints" / file.name).symlink_to(file)
    for args in (["predict", str(run), str(image)], ["export", str(run)]):
        result = runner.invoke(app, args)
        assert_refused(result, "points outside its run directory")
    resumed = runner.invoke(app, ["train", "--resume", str(run)])
    assert_refused(resumed, "points outside its run directory")
