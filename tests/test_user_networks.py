"""A network of the user's own in a recipe: from a file beside the recipe or an importable
module, with a SwinT swap, trained, listed, exported and predicted; its source recorded; and
each kind of bad input one line with exit 2."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from swint_cli.cli import app

runner = CliRunner()

NETWORK = """
import paddle
from paddle import nn


class TinyNet(nn.Layer):
    def __init__(self, num_classes, width=16):
        super().__init__()
        self.conv1 = nn.Conv2D(3, width, 3, padding=1)
        self.conv2 = nn.Conv2D(width, width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = nn.functional.relu(self.conv2(nn.functional.relu(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


def tiny_net(num_classes, width=16):
    return TinyNet(num_classes, width)


def not_a_layer(num_classes):
    return [num_classes]


def one_output(num_classes):
    return TinyNet(1)
"""

RECIPE = """model:
  backbone: {backbone}
  num_classes: 10
  args: {{width: 12}}
  replace:
    - slots: conv2
      num_heads: 2
      window_size: 4
data:
  dataset: shapes
  image_size: 32
  train_size: 64
  val_size: 32
  num_workers: 0
training:
  epochs: 1
  batch_size: 16
output:
  runs_dir: {runs}
  name: tiny
"""


def _recipe(folder: Path, backbone: str = "nets/tiny.py:tiny_net") -> Path:
    (folder / "nets").mkdir(exist_ok=True)
    (folder / "nets" / "tiny.py").write_text(NETWORK)
    recipe = folder / "tiny.yaml"
    recipe.write_text(RECIPE.format(backbone=backbone, runs=folder / "runs"))
    return recipe


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_a_network_from_a_file_beside_the_recipe_trains_exports_and_predicts(
    tmp_path: Path,
) -> None:
    recipe = _recipe(tmp_path)
    listed = runner.invoke(app, ["slots", str(recipe)])
    assert listed.exit_code == 0, listed.output
    assert "2 Conv2D slots of" in listed.output and "the recipe replaces 1" in listed.output
    trained = runner.invoke(app, ["train", str(recipe), "--quiet"])
    assert trained.exit_code == 0, trained.output
    (run,) = (tmp_path / "runs").iterdir()
    source = json.loads((run / "run.json").read_text())["backbone_source"]
    network = tmp_path / "nets" / "tiny.py"
    assert source == {
        "factory": f"{network}:tiny_net",
        "file": str(network),
        "sha256": hashlib.sha256(network.read_bytes()).hexdigest(),
    }
    assert runner.invoke(app, ["export", str(run)]).exit_code == 0
    image = tmp_path / "image.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    network.write_text(NETWORK + "\n# edited\n")
    changed = runner.invoke(app, ["predict", str(run), str(image)])
    assert changed.exit_code == 0, changed.output
    assert f"{network} changed since the run trained" in changed.output
    network.unlink()  # the exported model needs none of the user's code
    exported = runner.invoke(app, ["predict", str(run), str(image), "--exported"])
    assert exported.exit_code == 0, exported.output
    missing = runner.invoke(app, ["predict", str(run), str(image)])
    assert missing.exit_code == 2
    assert _last_line(missing.output) == f"error: model.backbone: {network} not found"


def test_a_network_from_an_importable_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = _recipe(tmp_path, backbone="tiny_module:tiny_net")
    (tmp_path / "tiny_module.py").write_text(NETWORK)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tiny_module", raising=False)
    listed = runner.invoke(app, ["slots", str(recipe)])
    assert listed.exit_code == 0, listed.output
    assert "2 Conv2D slots of tiny_module:tiny_net" in listed.output


@pytest.mark.parametrize(
    ("backbone", "args", "error"),
    [
        ("nets/none.py:tiny_net", "", "model.backbone: {folder}/nets/none.py not found"),
        (
            "nets/tiny.py:no_such",
            "",
            "model.backbone: {folder}/nets/tiny.py has no factory 'no_such'",
        ),
        (
            "nets/tiny.py:not_a_layer",
            "--set=model.args={}",
            "model.backbone: {folder}/nets/tiny.py:not_a_layer returned a list, "
            "expected a paddle.nn.Layer",
        ),
        (
            "nets/tiny.py:one_output",
            "--set=model.args={}",
            "model.backbone: {folder}/nets/tiny.py:one_output gives [1, 1] for a "
            "[1, 3, 32, 32] batch; a classification model must give [1, 10] "
            "(model.num_classes: 10)",
        ),
        (
            "nets/tiny.py:tiny_net",
            "--set=model.args={depth: 3}",
            "model.args: {folder}/nets/tiny.py:tiny_net has no 'depth' (takes width)",
        ),
        ("nets/tiny", "", None),  # neither a built-in name nor a factory: the recipe says so
    ],
)
def test_bad_networks_are_one_line_with_exit_2(
    tmp_path: Path, backbone: str, args: str, error: str | None
) -> None:
    recipe = _recipe(tmp_path, backbone=backbone)
    result = runner.invoke(app, ["train", str(recipe), *([args] if args else [])])
    assert result.exit_code == 2, result.output
    if error is None:
        assert "model.backbone: expected one of 'resnet18'" in _last_line(result.output)
    else:
        assert _last_line(result.output) == "error: " + error.format(folder=tmp_path)
    assert not (tmp_path / "runs").exists()


def test_a_package_registers_a_backbone_name_through_its_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution (a dist-info folder on the path) whose ``swint.backbones``
    entry points name ``tinynet``: a recipe says ``backbone: tinynet``."""
    from swint_cli.recipe import names

    (tmp_path / "tiny_registered.py").write_text(NETWORK)
    info = tmp_path / "tiny_registered-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-registered\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[swint.backbones]\ntinynet = tiny_registered:tiny_net\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    names.registered_backbones.cache_clear()
    try:
        recipe = _recipe(tmp_path, backbone="tinynet")
        listed = runner.invoke(app, ["slots", str(recipe)])
        assert listed.exit_code == 0, listed.output
        assert "2 Conv2D slots of tinynet" in listed.output
    finally:
        monkeypatch.undo()
        names.registered_backbones.cache_clear()


def test_resume_says_when_the_networks_source_changed_and_refuses_when_it_is_gone(
    tmp_path: Path,
) -> None:
    recipe = _recipe(tmp_path)
    assert runner.invoke(app, ["train", str(recipe), "--quiet"]).exit_code == 0
    (run,) = (tmp_path / "runs").iterdir()
    network = tmp_path / "nets" / "tiny.py"
    network.write_text(NETWORK + "\n# edited\n")
    resumed = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "2", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert f"note: {network} changed since the run trained" in resumed.output
    network.unlink()
    gone = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "3", "--quiet"])
    assert gone.exit_code == 2
    assert _last_line(gone.output) == f"error: model.backbone: {network} not found"
