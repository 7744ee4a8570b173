"""model.weights' load report and its settings: skipped globs, non-strict loading, a forced
format, a run directory as the source, and the report in a run and in ``swint slots``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import paddle
import pytest
from tiny_runs import QUICKSTART, tiny
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.files import write_arrays
from swint_cli.models import ModelError, SmallCNN, build_backbone, load_weights
from swint_cli.recipe import load_recipe
from swint_cli.train import TrainOptions, train

runner = CliRunner()


def _state(model: paddle.nn.Layer) -> dict[str, np.ndarray]:
    return {key: value.numpy() for key, value in model.state_dict().items()}


def _saved(tmp_path: Path, arrays: dict[str, np.ndarray], name: str = "w.safetensors") -> Path:
    path = tmp_path / name
    write_arrays(path, arrays)
    return path


def test_skipped_globs_keep_their_initialisation_and_say_so(tmp_path: Path) -> None:
    source, target = SmallCNN(10), SmallCNN(10)
    before = _state(target)
    report = load_weights(target, _saved(tmp_path, _state(source)), skip=["stage3.*"])
    after = _state(target)
    skipped = [key for key in before if key.startswith("stage3.")]
    assert report.fresh == {key: "skipped" for key in skipped}
    assert all(np.array_equal(after[key], before[key]) for key in skipped)
    np.testing.assert_array_equal(after["stem.weight"], _state(source)["stem.weight"])
    assert report.loaded == len(before) - len(skipped)


def test_non_strict_loading_reports_what_does_not_fit_and_loads_the_rest(tmp_path: Path) -> None:
    arrays = _state(SmallCNN(10))
    del arrays["stage1.bn1.weight"]
    arrays["stem.weight"] = np.ones((32, 3, 5, 5), "float32")
    arrays["extra.weight"] = np.ones(3, "float32")
    path = _saved(tmp_path, arrays)
    with pytest.raises(
        ModelError, match=r"does not fit the model: stem\.weight has shape .* \(\+2 more\)"
    ):
        load_weights(SmallCNN(10), path)
    target = SmallCNN(10)
    report = load_weights(target, path, strict=False)
    assert report.fresh == {
        "stem.weight": "shape [32, 3, 5, 5] in the file, [32, 3, 3, 3] in the model",
        "stage1.bn1.weight": "not in the file",
    }
    assert report.unexpected == ["extra.weight"]
    np.testing.assert_array_equal(target.stage2.conv1.weight.numpy(), arrays["stage2.conv1.weight"])
    lines = report.lines()
    assert lines[1] == f"  loaded {report.loaded} tensors"
    assert "  not used from the file: extra.weight" in lines


def test_a_forced_format_is_used_as_given(tmp_path: Path) -> None:
    """Torch's BatchNorm names in a file forced to ``paddle``: nothing is renamed, so the
    statistics do not fit; the same file as ``torchvision`` loads."""
    model = SmallCNN(10)
    arrays = {
        key.replace("._mean", ".running_mean").replace("._variance", ".running_var"): value
        for key, value in _state(model).items()
    }
    arrays["fc.weight"] = np.ascontiguousarray(arrays["fc.weight"].T)  # torch's [out, in]
    path = _saved(tmp_path, arrays)
    with pytest.raises(ModelError, match=r"the file lacks stem_bn\._mean"):
        load_weights(SmallCNN(10), path, weights_format="paddle")
    target = SmallCNN(10)
    assert load_weights(target, path, weights_format="torchvision").fresh == {}
    np.testing.assert_array_equal(target.fc.weight.numpy(), model.fc.weight.numpy())


def test_a_run_directory_gives_its_best_weights(tmp_path: Path) -> None:
    source = build_backbone("small_cnn", 10)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    _saved(run / "checkpoints", _state(source), "best.safetensors")
    target = build_backbone("small_cnn", 10)
    report = load_weights(target, run)
    assert report.file == str(run / "checkpoints" / "best.safetensors")
    np.testing.assert_array_equal(target.stem.weight.numpy(), source.stem.weight.numpy())
    with pytest.raises(ModelError, match=r"model\.weights: .*no checkpoint"):
        load_weights(target, tmp_path)


def test_a_run_records_and_prints_what_its_weights_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The quickstart from a small_cnn's weights with 5 classes: the head starts fresh
    (another class count), the two swapped slots' convolutions are named ``swapped``."""
    path = _saved(tmp_path, _state(build_backbone("small_cnn", 5)))
    overrides = tiny(tmp_path / "runs", f"model.weights={path}", "training.epochs=1")
    result = train(load_recipe(QUICKSTART, overrides), TrainOptions(quiet=True))
    report = json.loads((result.run_dir / "weights.json").read_text())
    assert report["file"] == str(path) and report["format"] == "paddle"
    assert report["fresh"] == {
        "fc.weight": "head",
        "fc.bias": "head",
        "stage1.conv2.weight": "swapped",
        "stage2.conv2.weight": "swapped",
    }
    printed = capsys.readouterr().out.splitlines()
    start = printed.index(f"weights: {path} (paddle, sha256 {report['sha256'][:12]})")
    assert printed[start + 2] == "  fresh (head): fc.weight, fc.bias"
    assert printed[start + 3] == "  fresh (swapped): stage1.conv2.weight, stage2.conv2.weight"


def test_slots_prints_the_weights_report(tmp_path: Path) -> None:
    path = _saved(tmp_path, _state(build_backbone("small_cnn", 10)))
    result = runner.invoke(app, ["slots", str(QUICKSTART), "--set", f"model.weights={path}"])
    assert result.exit_code == 0, result.output
    assert f"weights: {path} (paddle, sha256 " in result.output
    assert "fresh (swapped): stage1.conv2.weight, stage2.conv2.weight" in result.output


def test_an_unknown_weights_format_is_one_line_naming_the_key(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", str(QUICKSTART), "--set", "model.weights_format=onnx", "--quiet"]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: --set model.weights_format=onnx: model.weights_format: expected one of "
        "'paddle', 'torchvision' or 'swin_official', got 'onnx'"
    )


def test_a_truncated_checkpoint_stops_training_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    args = ["train", str(QUICKSTART), "--set", f"model.weights={path}", "--quiet"]
    result = runner.invoke(app, [*args, *[f"--set={o}" for o in tiny(tmp_path / "runs")]])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"error: weights file {path}: a damaged or truncated checkpoint (no zip directory)"
    )


def test_a_hybrid_slot_keeps_its_loaded_convolution_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    """A hybrid slot keeps the convolution (its loaded weights, under a new name): only a
    plain swap's convolution is reported swapped."""
    from swint_cli.models import build_model
    from swint_cli.recipe.schema import ModelSection, ReplaceRule

    source = build_backbone("small_cnn", 10)
    section = ModelSection(
        backbone="small_cnn",
        num_classes=10,
        weights=str(_saved(tmp_path, _state(source))),
        replace=[
            ReplaceRule(slots="stage2.conv2", num_heads=2, window_size=4),
            ReplaceRule(slots="stage3.conv2", num_heads=4, window_size=4, hybrid=True),
        ],
    )
    model, report = build_model(section, 32)
    assert report.weights is not None
    assert report.weights.fresh == {"stage2.conv2.weight": "swapped"}
    np.testing.assert_array_equal(
        model.stage3.conv2.conv.weight.numpy(), source.stage3.conv2.weight.numpy()
    )
