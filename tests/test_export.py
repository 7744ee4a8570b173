"""swint export / swint predict on a real (tiny) quickstart run, whose model holds SwinT."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
from assertions import one_error_line
from conftest import paddle2onnx_problem, require_or_skip
from PIL import Image
from test_run_safety import plant
from tiny_runs import QUICKSTART, tiny
from typer.testing import CliRunner

from swint_cli import SwinT
from swint_cli.cli import app
from swint_cli.data import SHAPE_CLASSES
from swint_cli.data.shapes import MEAN, STD
from swint_cli.export import export_run, load_exported, open_trained_run, run_logits, top_k
from swint_cli.recipe import dump_recipe, load_recipe
from swint_cli.train import TrainOptions, train

runner = CliRunner()
RANKED = re.compile(r"^\s+(\d+)\. (\S+)\s+([\d.]+)%$")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch quickstart run (two SwinT slots), trained on two batches."""
    runs = tmp_path_factory.mktemp("runs")
    recipe = load_recipe(QUICKSTART, tiny(runs))
    result = train(recipe, TrainOptions(quiet=True, epochs=1, limit_batches=2))
    assert result.exit_code == 0, result.message
    return result.run_dir


@pytest.fixture(scope="module")
def exported(run_dir: Path) -> Path:
    """``run_dir/export`` written by ``swint export RUN_DIR``."""
    result = runner.invoke(app, ["export", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert str(run_dir / "export") in result.stdout
    return run_dir / "export"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A non-square RGB PNG and a greyscale JPEG (predict converts it to RGB)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    colour = folder / "colour.png"
    Image.fromarray(rng.integers(0, 256, (40, 24, 3), dtype=np.uint8)).save(colour)
    grey = folder / "grey.jpg"
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(grey)
    return [colour, grey]


def dygraph_model(run_dir: Path) -> paddle.nn.Layer:
    return open_trained_run(run_dir).load_model("best")[0]


def expected_input(path: Path) -> np.ndarray:
    """The validation preprocessing, written out: RGB, bilinear to 32x32, normalised."""
    with Image.open(path) as image:
        rgb = image.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)
    pixels = np.asarray(rgb, dtype=np.float32) / 255
    return ((pixels - np.float32(MEAN)) / np.float32(STD)).transpose(2, 0, 1)


def parse(stdout: str) -> dict[str, list[tuple[str, float]]]:
    """``swint predict`` output -> {image: [(class, percent), ...]}."""
    found: dict[str, list[tuple[str, float]]] = {}
    image = None
    for line in stdout.splitlines():
        match = RANKED.match(line)
        if match:
            assert image is not None and int(match[1]) == len(found[image]) + 1
            found[image].append((match[2], float(match[3])))
        else:
            image = line
            found[image] = []
    return found


def test_export_gives_the_dygraph_logits(run_dir: Path, exported: Path) -> None:
    model = dygraph_model(run_dir)
    assert sum(isinstance(layer, SwinT) for layer in model.sublayers()) == 2
    layer, info = load_exported(exported)
    rng = np.random.default_rng(0)
    for batch in (3, 1):  # the exported batch dimension is dynamic
        x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
        np.testing.assert_allclose(run_logits(layer, x), run_logits(model, x), atol=1e-5, rtol=1e-5)
    assert info.image_size == 32 and info.classes == SHAPE_CLASSES
    metadata = json.loads((exported / "model.json").read_text())
    assert metadata["format"] == "paddle"
    assert metadata["checkpoint"] == "checkpoints/best.safetensors"
    assert metadata["normalization"] == {"mean": list(MEAN), "std": list(STD)}
    assert metadata["input"]["shape"] == [None, 3, 32, 32]
    assert metadata["paddle"] == paddle.__version__
    assert all((exported / name).is_file() for name in metadata["files"])


def test_predict_prints_top_k_led_by_the_models_argmax(run_dir: Path, images: list[Path]) -> None:
    result = runner.invoke(app, ["predict", str(run_dir), *map(str, images), "--top", "3"])
    assert result.exit_code == 0, result.output
    printed = parse(result.stdout)
    assert list(printed) == [str(path) for path in images]
    logits = run_logits(dygraph_model(run_dir), np.stack([expected_input(p) for p in images]))
    for path, row in zip(images, logits, strict=True):
        top = printed[str(path)]
        assert len(top) == 3
        assert top[0][0] == SHAPE_CLASSES[int(np.argmax(row))]
        probabilities = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        assert top[0][1] == pytest.approx(100 * probabilities.max(), abs=0.006)
        assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_predict_exported_gives_the_same_classes(
    run_dir: Path, exported: Path, images: list[Path]
) -> None:
    args = ["predict", str(run_dir), *map(str, images)]
    from_checkpoint = runner.invoke(app, args)
    from_export = runner.invoke(app, [*args, "--exported"])
    assert from_checkpoint.exit_code == from_export.exit_code == 0, from_export.output
    assert str(exported) in from_export.stderr
    checkpoint_top, export_top = parse(from_checkpoint.stdout), parse(from_export.stdout)
    assert len(checkpoint_top[str(images[0])]) == 5
    for image in checkpoint_top:
        assert [name for name, _ in export_top[image]] == [n for n, _ in checkpoint_top[image]]


def test_predict_errors_are_one_line_naming_the_run(
    run_dir: Path, exported: Path, images: list[Path], tmp_path: Path
) -> None:
    untrained = tmp_path / "untrained"  # a run directory without checkpoints or export
    (untrained / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / "recipe.yaml", untrained)
    good = str(images[0])
    cases = [
        ([str(tmp_path), good], [str(tmp_path), "not a run directory"]),
        ([str(tmp_path / "nowhere"), good], ["nowhere", "no such run directory"]),
        ([str(untrained), good], [str(untrained), "no checkpoint"]),
        ([str(untrained), good, "--exported"], [str(untrained / "export"), "no export"]),
    ]
    for args, needles in cases:
        result = runner.invoke(app, ["predict", *args])
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        one_error_line(result.output, *needles)


def test_predict_classifies_every_readable_image_and_lists_the_others(
    run_dir: Path, images: list[Path], tmp_path: Path
) -> None:
    unreadable = tmp_path / "broken.png"
    unreadable.write_text("not a png")
    missing = tmp_path / "missing.png"
    bad = [(missing, "no such image file"), (unreadable, "cannot read image")]
    bad.append((tmp_path, "not an image file"))
    args = [images[0], missing, unreadable, tmp_path, images[1]]
    result = runner.invoke(app, ["predict", str(run_dir), *map(str, args)])
    assert result.exit_code == 2, result.output
    assert list(parse(result.stdout)) == [str(images[0]), str(images[1])]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(bad)
    for line, (path, message) in zip(errors, bad, strict=True):
        assert str(path) in line and message in line, line
    assert "Traceback" not in result.output

    good = runner.invoke(app, ["predict", str(run_dir), str(images[0])])
    assert good.exit_code == 0 and "error" not in good.stderr


def test_export_refuses_to_overwrite_without_force(
    run_dir: Path, exported: Path, tmp_path: Path
) -> None:
    before = (exported / "model.json").stat().st_mtime_ns
    result = runner.invoke(app, ["export", str(run_dir)])
    assert result.exit_code == 2
    one_error_line(result.output, str(exported), "--force")
    assert (exported / "model.json").stat().st_mtime_ns == before

    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "notes.txt").write_text("not ours")
    (out / "model.onnx").write_text("a stale export")
    (out / "inference.pdiparams.info").write_text("stale")  # Paddle 2's loader reads it
    refused = runner.invoke(app, ["export", str(run_dir), "--out", str(out)])
    assert refused.exit_code == 2 and "model.onnx" in refused.output
    assert "inference.pdiparams.info" in refused.output
    forced = runner.invoke(
        app, ["export", str(run_dir), "--out", str(out), "--force", "--checkpoint", "last"]
    )
    assert forced.exit_code == 0, forced.output
    assert not (out / "model.onnx").exists() and (out / "notes.txt").read_text() == "not ours"
    info = out / "inference.pdiparams.info"
    assert not info.exists() or info.read_text(errors="replace") != "stale"  # gone or rewritten
    metadata = json.loads((out / "model.json").read_text())
    assert metadata["checkpoint"] == "checkpoints/last.safetensors"
    assert sorted(metadata["files"]) == sorted(
        p.name for p in out.iterdir() if p.name != "notes.txt"
    )


def test_best_checkpoint_falls_back_to_last(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    (copy / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / "recipe.yaml", copy)
    shutil.copy(run_dir / "run.json", copy)
    shutil.copy(run_dir / "checkpoints" / "last.safetensors", copy / "checkpoints")
    _, file, note = open_trained_run(copy).load_model("best")
    assert file.name == "last.safetensors" and "checkpoints/best is missing" in note
    result = export_run(copy)
    assert result.notes == [note]
    assert result.metadata["checkpoint"] == "checkpoints/last.safetensors"
    cli = runner.invoke(app, ["export", str(copy), "--out", str(tmp_path / "again")])
    assert cli.exit_code == 0 and "note: checkpoints/best is missing" in cli.stderr


def test_a_checkpoint_that_no_longer_fits_the_recipe_is_a_one_line_error(
    run_dir: Path, tmp_path: Path, images: list[Path]
) -> None:
    copy = tmp_path / "edited"
    shutil.copytree(run_dir / "checkpoints", copy / "checkpoints")
    recipe = load_recipe(run_dir / "recipe.yaml")
    recipe.model.replace[0].num_heads = 4  # another relative position bias table shape
    (copy / "recipe.yaml").write_text(dump_recipe(recipe))
    result = runner.invoke(app, ["predict", str(copy), str(images[0])])
    assert result.exit_code == 2
    one_error_line(result.output, "best.safetensors", "does not fit the recipe's model")


# What paddle.jit.load reads of an export, by the program file this Paddle writes (read in
# Paddle 3.3 and 2.6): Paddle 3 (PIR) parses inference.json and inference.pdiparams in C++ and
# unpickles nothing; Paddle 2 parses inference.pdmodel and inference.pdiparams, and unpickles
# inference.pdiparams.info, which load_exported must therefore refuse unless it is plain data.
@pytest.mark.parametrize("planted", ["program", "weights", "weights_info"])
def test_a_pickle_planted_in_what_the_loader_reads_runs_no_code(
    run_dir: Path, exported: Path, images: list[Path], tmp_path: Path, planted: str
) -> None:
    """A file of the export that this Paddle's loader reads, replaced by a pickle that runs
    code when unpickled: ``swint predict --exported`` fails with one line, running nothing."""
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    pir = (run / "export" / "inference.json").is_file()  # Paddle 2 writes inference.pdmodel
    if planted == "weights_info" and pir:
        pytest.skip("Paddle 3's loader reads no inference.pdiparams.info")
    names = {
        "program": "inference.json" if pir else "inference.pdmodel",
        "weights": "inference.pdiparams",
        "weights_info": "inference.pdiparams.info",
    }
    file = run / "export" / names[planted]
    marker = tmp_path / "marker"
    plant(file, marker)
    result = runner.invoke(app, ["predict", str(run), str(images[0]), "--exported"])
    assert not marker.exists(), f"loading the export ran the code planted in {file.name}"
    assert result.exit_code == 2, result.output
    if planted == "weights_info":
        one_error_line(result.output, str(file), "refused to load builtins.exec")
    else:  # Paddle's own parsers reject it
        one_error_line(result.output, str(file.parent), "cannot load the export")


def test_top_k_orders_by_probability_and_clips_k() -> None:
    ranked = top_k(np.array([[0.0, 2.0, 1.0], [5.0, 5.0, -1.0]]), ["a", "b", "c"], 5)
    assert [name for name, _ in ranked[0]] == ["b", "c", "a"]
    assert [name for name, _ in ranked[1]] == ["a", "b", "c"]  # ties: lower index first
    assert sum(p for _, p in ranked[0]) == pytest.approx(1.0)
    assert ranked[1][0][1] == pytest.approx(ranked[1][1][1])


def test_onnx_export_matches_onnxruntime(run_dir: Path, tmp_path: Path) -> None:
    problem = paddle2onnx_problem()
    if problem:
        require_or_skip("SWINT_REQUIRE_ONNX", problem)  # CI installs the [onnx] extra
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    result = runner.invoke(
        app, ["export", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "onnx")]
    )
    assert result.exit_code == 0, result.output
    metadata = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert metadata["format"] == "onnx" and "model.onnx" in metadata["files"]
    session = ort.InferenceSession(
        str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (model_input,) = session.get_inputs()
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (logits,) = session.run(None, {model_input.name: x})
    expected = run_logits(dygraph_model(run_dir), x)
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=1e-5)


def test_onnx_without_paddle2onnx_is_a_one_line_error(run_dir: Path, tmp_path: Path) -> None:
    if paddle2onnx_problem() is None:
        pytest.skip("paddle2onnx is importable here; test_onnx_export_matches_onnxruntime runs")
    result = runner.invoke(
        app, ["export", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    hint = 'pip install -e ".[onnx]" in the swint checkout'  # as the README installs
    one_error_line(result.output, "--format onnx needs paddle2onnx", hint)
    assert not (tmp_path / "x").exists()


def image_folder(root: Path) -> Path:
    """``root/{train,val}/{cat,dog}/*.png``: 8 + 4 random images per class."""
    rng = np.random.default_rng(3)
    for split, count in (("train", 8), ("val", 4)):
        for name in ("cat", "dog"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.png")
    return root


def test_export_and_predict_need_no_training_data(tmp_path: Path, images: list[Path]) -> None:
    """The run records its classes and preprocessing: with the data gone, both still work."""
    data = image_folder(tmp_path / "data")
    overrides = [
        *tiny(tmp_path / "runs"),
        "data.dataset=image_folder",
        f"data.path={data}",
        "data.train_size=null",
        "data.val_size=null",
        "model.num_classes=2",
    ]
    result = train(load_recipe(QUICKSTART, overrides), TrainOptions(quiet=True, epochs=1))
    assert result.exit_code == 0, result.message
    shutil.rmtree(data)
    predicted = runner.invoke(app, ["predict", str(result.run_dir), str(images[0])])
    assert predicted.exit_code == 0, predicted.output
    assert {name for name, _ in parse(predicted.stdout)[str(images[0])]} == {"cat", "dog"}
    exported = runner.invoke(app, ["export", str(result.run_dir)])
    assert exported.exit_code == 0, exported.output
    metadata = json.loads((result.run_dir / "export" / "model.json").read_text())
    assert metadata["classes"] == ["cat", "dog"]
    imagenet = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert metadata["normalization"] == imagenet


def test_a_run_without_run_json_rebuilds_from_its_data_with_a_note(
    run_dir: Path, images: list[Path], tmp_path: Path
) -> None:
    older = Path(
        shutil.copytree(run_dir, tmp_path / "older", ignore=shutil.ignore_patterns("export"))
    )
    (older / "run.json").unlink()
    result = runner.invoke(app, ["predict", str(older), str(images[0])])
    assert result.exit_code == 0, result.output
    assert "has no run.json (an older run)" in result.stderr
    assert parse(result.stdout) == parse(
        runner.invoke(app, ["predict", str(run_dir), str(images[0])]).stdout
    )


def test_a_damaged_run_json_is_an_error_not_a_guess(
    run_dir: Path, images: list[Path], tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(run_dir, damaged, ignore=shutil.ignore_patterns("export"))
    (damaged / "run.json").write_text('{"task": "classification", "classes": [')
    result = runner.invoke(app, ["predict", str(damaged), str(images[0])])
    assert result.exit_code == 2
    one_error_line(result.output, "run.json", "cannot read")


GLOG_LINE = re.compile(r"^[IWE]\d{4} ")  # Paddle's C++ log lines: I1206 12:00:00.000 ...


def test_paddles_own_log_lines_stay_hidden_unless_verbose(
    run_dir: Path, exported: Path, images: list[Path], tmp_path: Path
) -> None:
    """``swint export`` and ``predict --exported`` as a user runs them: no Paddle INFO or
    WARNING lines unless ``swint --verbose`` asks for them."""
    env = {k: v for k, v in os.environ.items() if k != "GLOG_minloglevel"}
    out = tmp_path / "export"
    commands = [
        ["export", str(run_dir), "--out", str(out)],
        ["predict", str(run_dir), str(images[0]), "--exported"],
    ]
    swint = [sys.executable, "-m", "swint_cli"]
    for command in commands:
        done = subprocess.run([*swint, *command], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert not [line for line in done.stderr.splitlines() if GLOG_LINE.match(line)], done.stderr
    for verbose, level in ((False, "2"), (True, "None")):
        probe = (
            "import os; from swint_cli.runtime import prepare_environment, tune_cpu; "
            f"prepare_environment(verbose={verbose}); tune_cpu(paddle=False); "
            "print(os.environ.get('GLOG_minloglevel'))"
        )
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env)
        assert done.stdout.decode().strip() == level  # swint --verbose leaves Paddle's logging
    accepted = subprocess.run([*swint, "--verbose", "env"], capture_output=True, env=env)
    assert accepted.returncode == 0, accepted.stderr
