"""Detection end to end on the embedded detection_shapes: train a tiny FCOS with a SwinT in
its backbone, recompute its AP from the files it leaves, resume it, export and predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import paddle
import pandas as pd
import pytest
from conftest import paddle2onnx_problem, require_or_skip
from PIL import Image
from tiny_runs import ROOT, StopAfter, learning_columns, run_dir_of, set_args
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.export.detect import load_detector
from swint_cli.files import read_arrays
from swint_cli.recipe import load_recipe
from swint_cli.train import TrainOptions, train
from swint_cli.train.coco_metrics import coco_scores
from swint_cli.train.detection import Detection

RECIPE = ROOT / "recipes" / "detection-quickstart.yaml"


def tiny_detection(runs_dir: Path, *extra: str) -> list[str]:
    """The detection quickstart shrunk to seconds: small_cnn with a SwinT in stage2 at
    32x32, a 16-channel FPN with one extra level, 48 training canvases in batches of 16."""
    return [
        f"output.runs_dir={runs_dir}",
        "model.backbone=small_cnn",
        "model.features=[stage1, stage2, stage3]",
        "model.replace=[{slots: stage2.conv2, num_heads: 4, window_size: 4}]",
        "model.detector.channels=16",
        "model.detector.head_depth=1",
        "model.detector.extra_levels=1",
        "data.image_size=32",
        "data.train_size=48",
        "data.val_size=16",
        "data.num_workers=0",
        "data.transforms.random_crop=true",
        "training.batch_size=16",
        "training.epochs=2",
        "training.warmup_batches=1",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("detection")
    result = train(load_recipe(RECIPE, tiny_detection(runs)), TrainOptions(quiet=True))
    assert result.status == "finished", result.message
    return result.run_dir


def test_a_detection_run_records_coco_ap_that_its_own_files_reproduce(trained: Path):
    epochs = pd.read_csv(trained / "epochs.csv")
    assert tuple(epochs.columns) == Detection.epoch_columns and len(epochs) == 2
    truth = json.loads((trained / "val_annotations.json").read_text())
    predictions = json.loads((trained / "val_predictions.json").read_text())
    assert len(truth["images"]) == 16 and [c["name"] for c in truth["categories"]] == [
        "circle",
        "square",
        "triangle",
        "ring",
        "cross",
    ]
    assert {p["image_id"] for p in predictions} <= {i["id"] for i in truth["images"]}
    scores = coco_scores(truth, predictions)
    last = epochs.iloc[-1]
    np.testing.assert_allclose(
        [scores.map, scores.map50, scores.map75],
        [last["val_map"], last["val_map50"], last["val_map75"]],
        atol=1e-6,
    )
    per_class = json.loads((trained / "val_class_ap.json").read_text())
    assert [row["name"] for row in per_class] == [c["name"] for c in truth["categories"]]
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["task"] == "detection" and summary["swint_slots"] == 1
    assert "best_val_map" in summary


def test_an_interrupted_detection_run_resumes_to_the_uninterrupted_result(tmp_path, trained):
    stopped = train(
        load_recipe(RECIPE, tiny_detection(tmp_path)), TrainOptions(quiet=True), StopAfter(4)
    )  # 3 batches per epoch: stops before batch 1 of epoch 2
    assert stopped.status == "interrupted"
    resumed = train(None, TrainOptions(resume=stopped.run_dir, quiet=True))  # type: ignore[arg-type]
    assert resumed.status == "finished"
    pd.testing.assert_frame_equal(
        learning_columns(resumed.run_dir), learning_columns(trained), atol=1e-5, rtol=0
    )


def test_predict_writes_coco_results_and_pictures_from_the_checkpoint_and_the_export(
    tmp_path, trained
):
    runner = CliRunner()
    images = []
    for index, colour in enumerate([(200, 30, 30), (20, 40, 200)]):
        path = tmp_path / f"image{index}.png"
        Image.new("RGB", (48, 40), colour).save(path)
        images.append(str(path))
    args = ["predict", str(trained), *images, "--score-threshold", "0", "--out"]
    result = runner.invoke(app, [*args, str(tmp_path / "checkpoint")])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "checkpoint" / "predictions.json").read_text())
    assert written and {p["image_id"] for p in written} == {1, 2}
    assert all(p["bbox"][0] >= 0 and p["bbox"][0] + p["bbox"][2] <= 48.01 for p in written)
    assert Image.open(tmp_path / "checkpoint" / "image0.png").size == (48, 40)
    again = runner.invoke(app, [*args, str(tmp_path / "checkpoint")])
    assert again.exit_code == 2 and "use --force" in again.output

    exported = runner.invoke(app, ["export", str(trained)])
    assert exported.exit_code == 0, exported.output
    metadata = json.loads((trained / "export" / "model.json").read_text())
    assert metadata["task"] == "detection" and metadata["category_ids"] == [0, 1, 2, 3, 4]
    result = runner.invoke(app, [*args, str(tmp_path / "exported"), "--exported"])
    assert result.exit_code == 0, result.output
    from_export = json.loads((tmp_path / "exported" / "predictions.json").read_text())
    assert len(from_export) == len(written)
    for mine, theirs in zip(written, from_export, strict=True):
        assert mine["category_id"] == theirs["category_id"]
        np.testing.assert_allclose(mine["bbox"], theirs["bbox"], atol=0.05)
        np.testing.assert_allclose(mine["score"], theirs["score"], atol=1e-3)


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.features=[stage1, stage9]", "model.features[1]: 'stage9' names no sublayer"),
        ("model.features=[stage3, stage2]", "model.features[1] (stage2): its map is 8x8 after 4x4"),
        ("model.features=[fc]", "model.features[0] (fc): gives [1, 5]; the FPN takes"),
    ],
)
def test_features_the_fpn_cannot_take_are_one_line_before_a_run_exists(tmp_path, override, message):
    result = CliRunner().invoke(
        app, ["train", str(RECIPE), "--quiet", *set_args(tiny_detection(tmp_path, override))]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


STRIDED_NETWORK = """
from paddle import nn


class Strided(nn.Layer):
    def __init__(self, num_classes, width=8):
        super().__init__()
        self.stem = nn.Conv2D(3, width, 3, stride=2, padding=1)
        self.down1 = nn.Conv2D(width, 2 * width, 3, stride=2, padding=1)
        self.mix1 = nn.Conv2D(2 * width, 2 * width, 3, padding=1)
        self.down2 = nn.Conv2D(2 * width, 4 * width, 3, stride=2, padding=1)
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        x = nn.functional.relu(self.stem(x))
        x = nn.functional.relu(self.mix1(nn.functional.relu(self.down1(x))))
        x = nn.functional.relu(self.down2(x))
        return self.head(x.mean(axis=[2, 3]))


def strided(num_classes, width=8):
    return Strided(num_classes, width)
"""


def test_a_network_of_your_own_detects_from_the_maps_it_names_with_a_swinT_inside(tmp_path):
    (tmp_path / "strided.py").write_text(STRIDED_NETWORK)
    recipe = tmp_path / "mine.yaml"
    recipe.write_text(
        RECIPE.read_text().replace("backbone: resnet18", "backbone: strided.py:strided")
    )
    mine = [
        "model.features=[mix1, down2]",
        "model.replace=[{slots: mix1, num_heads: 2, window_size: 4}]",
        "model.args={width: 8}",
    ]
    overrides = [
        o
        for o in tiny_detection(tmp_path / "runs")
        if not o.startswith(("model.backbone", "model.features", "model.replace"))
    ]
    result = train(
        load_recipe(recipe, [*overrides, *mine, "training.epochs=1"]), TrainOptions(quiet=True)
    )
    assert result.status == "finished"
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["swint_slots"] == 1
    unnamed = CliRunner().invoke(
        app,
        [
            "train",
            str(recipe),
            "--quiet",
            *set_args(
                [*overrides, "model.args={width: 8}", "model.replace=[]", "model.features=null"]
            ),
        ],
    )
    assert unnamed.exit_code == 2
    assert "model.features: a network of your own has no default feature maps" in unnamed.output


def test_hybrid_recompute_and_bf16_work_inside_the_detectors_backbone(tmp_path):
    overrides = tiny_detection(
        tmp_path,
        "model.replace=[{slots: stage2.conv2, num_heads: 4, window_size: 4, hybrid: true, "
        "recompute: true}]",
        "training.precision=bf16",
        "training.epochs=1",
        "training.limit_batches=2",
    )
    result = train(load_recipe(RECIPE, overrides), TrainOptions(quiet=True))
    assert result.status == "finished"
    epochs = pd.read_csv(result.run_dir / "epochs.csv")
    assert np.isfinite(epochs["train_loss"]).all()


def _coco_set(folder: Path) -> list[str]:
    """Six 40x32 images of two categories (ids 7 and 3) as a COCO train and val split."""
    (folder / "images").mkdir(parents=True)
    images, annotations = [], []
    rng = np.random.default_rng(0)
    for index in range(6):
        pixels = np.full((32, 40, 3), 30, np.uint8)
        x, y = int(rng.integers(0, 20)), int(rng.integers(0, 12))
        pixels[y : y + 16, x : x + 16] = (220, 40, 40) if index % 2 else (40, 40, 220)
        Image.fromarray(pixels).save(folder / "images" / f"{index}.png")
        images.append({"id": 100 + index, "file_name": f"{index}.png", "width": 40, "height": 32})
        annotations.append(
            {
                "id": index + 1,
                "image_id": 100 + index,
                "category_id": 7 if index % 2 else 3,
                "bbox": [x, y, 16, 16],
            }
        )
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 7, "name": "red"}, {"id": 3, "name": "blue"}],
    }
    (folder / "train.json").write_text(json.dumps(data))
    return [
        "data.dataset=coco",
        f"data.train_images={folder / 'images'}",
        f"data.train_annotations={folder / 'train.json'}",
        f"data.val_images={folder / 'images'}",
        f"data.val_annotations={folder / 'train.json'}",
        "data.train_size=null",
        "data.val_size=null",
        "model.num_classes=2",
        "data.transforms.random_crop=false",
    ]


def test_coco_data_trains_and_its_predictions_keep_the_files_category_ids(tmp_path):
    coco = _coco_set(tmp_path / "coco")
    args = [
        "train",
        str(RECIPE),
        "--quiet",
        *set_args(tiny_detection(tmp_path / "runs", *coco, "training.epochs=1")),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = run_dir_of(tmp_path / "runs")
    truth = json.loads((run / "val_annotations.json").read_text())
    assert [c["id"] for c in truth["categories"]] == [3, 7]
    assert {a["image_id"] for a in truth["annotations"]} == set(range(100, 106))
    predictions = json.loads((run / "val_predictions.json").read_text())
    assert {p["category_id"] for p in predictions} <= {3, 7}
    assert json.loads((run / "run.json").read_text())["category_ids"] == [3, 7]


def test_bad_coco_annotations_are_one_line_with_exit_2_before_a_run_exists(tmp_path):
    coco = _coco_set(tmp_path / "coco")
    data = json.loads((tmp_path / "coco" / "train.json").read_text())
    data["annotations"][2]["category_id"] = 5
    (tmp_path / "coco" / "train.json").write_text(json.dumps(data))
    args = ["train", str(RECIPE), "--quiet", *set_args(tiny_detection(tmp_path / "runs", *coco))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "annotations[2]: category_id 5 is not a category (ids: 3, 7)" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _repeats(predictions: list[dict]) -> int:
    """Pairs of predictions of one class whose boxes and scores agree to rounding: the same
    detection twice (NMS keeps no two such boxes; two locations never score so alike)."""
    return sum(
        a["category_id"] == b["category_id"]
        and abs(a["score"] - b["score"]) <= 2e-5
        and max(abs(x - y) for x, y in zip(a["bbox"], b["bbox"], strict=True)) <= 0.02
        for i, a in enumerate(predictions)
        for b in predictions[i + 1 :]
    )


def test_data_parallel_validation_gathers_every_image_once_from_both_ranks(tmp_path):
    """Two processes each evaluate their shard of 15 images (rank 1's padded with image 0,
    which rank 0 has too): the run's ground truth and predictions hold each image once, and
    its files reproduce its AP."""
    from test_train import launch

    overrides = tiny_detection(tmp_path / "runs", "data.val_size=15", "training.epochs=1")
    process = launch(tmp_path, str(RECIPE), "--quiet", *set_args(overrides))
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out[-2000:]
    run = run_dir_of(tmp_path / "runs")
    truth = json.loads((run / "val_annotations.json").read_text())
    assert sorted(image["id"] for image in truth["images"]) == list(range(1, 16))
    predictions = json.loads((run / "val_predictions.json").read_text())
    image_0 = [p for p in predictions if p["image_id"] == 1]  # evaluated on both ranks
    assert image_0 and _repeats(image_0) == 0
    epochs = pd.read_csv(run / "epochs.csv")
    assert coco_scores(truth, predictions).map == pytest.approx(
        epochs["val_map"].iloc[-1], abs=1e-6
    )


def test_a_finished_detection_run_suggests_predict_with_out(tmp_path):
    from swint_cli.cli.train import next_commands

    lines = next_commands(tmp_path, "finished", "detection")
    assert any(f"swint predict {tmp_path} IMAGE.png --out DIR" in line for line in lines)


def test_a_detection_run_starts_from_another_detection_runs_weights(tmp_path, trained):
    """``model.weights`` naming a detection run loads its best weights into every part of the
    new detector, SwinT included, and weights.json says nothing started fresh."""
    overrides = tiny_detection(tmp_path, f"model.weights={trained}", "training.epochs=1")
    result = train(load_recipe(RECIPE, overrides), TrainOptions(quiet=True))
    assert result.status == "finished", result.message
    report = json.loads((result.run_dir / "weights.json").read_text())
    assert report["file"] == str(trained / "checkpoints" / "best.safetensors")
    assert report["fresh"] == {} and report["unexpected"] == []
    saved, _ = read_arrays(trained / "checkpoints" / "best.safetensors")
    assert report["loaded"] == len(saved)


def test_a_detectors_onnx_export_gives_the_checkpoints_boxes_and_scores(tmp_path, trained):
    """``swint export --format onnx`` of a detector: onnxruntime's boxes and scores at every
    location equal the checkpoint's decoded FCOS outputs."""
    problem = paddle2onnx_problem()
    if problem:
        require_or_skip("SWINT_REQUIRE_ONNX", problem)  # CI installs the [onnx] extra
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    out = tmp_path / "onnx"
    args = ["export", str(trained), "--format", "onnx", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    boxes, scores = session.run(None, {session.get_inputs()[0].name: images})
    detector = load_detector(trained)
    with paddle.no_grad():
        expected = [t.numpy() for t in detector.model(paddle.to_tensor(images))]
    assert boxes.shape == expected[0].shape and scores.shape == expected[1].shape
    np.testing.assert_allclose(boxes, expected[0], atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(scores, expected[1], atol=1e-5, rtol=1e-4)
