"""training.freeze: frozen parameters and the statistics of frozen BatchNorm layers stay
exactly as loaded through training; the rest trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_runs import QUICKSTART, tiny
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.files import read_arrays, write_arrays
from swint_cli.models import build_backbone
from swint_cli.recipe import load_recipe
from swint_cli.train import TrainOptions, train

runner = CliRunner()


def test_frozen_parameters_and_batch_norm_statistics_stay_as_loaded(tmp_path: Path) -> None:
    """The quickstart from saved weights, its stem and stage 1 frozen, one epoch with
    momentum and weight decay: every frozen tensor (the BatchNorm running mean and variance
    included) is bit for bit the file's, and stage 3 moved."""
    start = {k: v.numpy() for k, v in build_backbone("small_cnn", 10).state_dict().items()}
    weights = tmp_path / "start.safetensors"
    write_arrays(weights, start)
    overrides = tiny(
        tmp_path / "runs",
        f"model.weights={weights}",
        "training.freeze=[stem*, stage1.*]",
        "training.epochs=1",
        "model.replace=[]",
    )
    result = train(load_recipe(QUICKSTART, overrides), TrainOptions(quiet=True))
    trained, _ = read_arrays(result.run_dir / "checkpoints" / "last.safetensors")
    frozen = [key for key in start if key.startswith(("stem", "stage1."))]
    assert any(key.endswith("._mean") for key in frozen)
    for key in frozen:
        np.testing.assert_array_equal(trained[key], start[key], err_msg=key)
    assert not np.array_equal(trained["stage3.conv2.weight"], start["stage3.conv2.weight"])
    assert not np.array_equal(trained["stage3.bn2._mean"], start["stage3.bn2._mean"])


def test_a_freeze_glob_matching_nothing_is_one_line(tmp_path: Path) -> None:
    args = ["train", str(QUICKSTART), *[f"--set={o}" for o in tiny(tmp_path / "runs")]]
    result = runner.invoke(app, [*args, "--set", "training.freeze=[layer9.*]"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: training.freeze: 'layer9.*' matches no parameter of the model"
    )
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("decay", ["all", "weights"])
def test_the_optimizer_holds_only_what_is_not_frozen(decay: str) -> None:
    from swint_cli.train.freezing import freeze
    from swint_cli.train.optimizers import parameter_groups

    model = build_backbone("small_cnn", 10)
    learning = {name for name, p in model.named_parameters() if not p.stop_gradient}
    frozen = freeze(model, ["stage1.*"])
    groups = parameter_groups(model, decay)
    held = groups if decay == "all" else [p for group in groups for p in group["params"]]
    names = {id(p): name for name, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in held) == sorted(learning - set(frozen))
    assert "stage2.conv1.weight" in learning and "stage1.conv1.weight" in frozen
