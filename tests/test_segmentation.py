"""Segmentation: data with masks, U-Net and its SwinT surgery, the task's loss and metrics, and
`swint train` / `swint compare` on segmentation runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import paddle
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.data import DataError
from swint_cli.data.segmentation_folder import read_segmentation_folder
from swint_cli.data.shapes import (
    SEGMENTATION_CLASSES,
    generate_segmentation_shapes,
    generate_shapes,
)
from swint_cli.data.transforms import IDENTITY, SampleTransform
from swint_cli.export import load_exported, open_trained_run, run_logits
from swint_cli.models import build_backbone, replace_slots
from swint_cli.models.errors import ModelError
from swint_cli.nn import SwinT
from swint_cli.recipe import RecipeError, load_recipe
from swint_cli.recipe.schema import ReplaceRule, Transforms
from swint_cli.train.tasks import Segmentation, mean_iou

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_shape_masks_cover_the_drawn_shape_with_its_class() -> None:
    images, masks = generate_segmentation_shapes(20, 3, "val")
    plain, labels = generate_shapes(20, 3, "val")
    np.testing.assert_array_equal(images, plain)  # the same images as the classification set
    for image, mask, label in zip(images.astype(float), masks, labels, strict=True):
        assert set(np.unique(mask)) == {0, label + 1}
        inside, outside = image[mask > 0].mean(0), image[mask == 0].mean(0)
        assert np.linalg.norm(inside - outside) > 20  # the shape's colour differs


def test_pair_transform_crops_and_flips_mask_with_image() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    image[1:3, 5:8] = 200  # a bright block
    mask = (image[:, :, 0] > 0).astype(np.uint8) * 4
    settings = Transforms(random_crop=True, crop_padding=2, horizontal_flip=True, normalize=False)
    transform = SampleTransform(8, settings, IDENTITY, augment=True)
    for seed in range(6):
        x, y = transform.pair(image, mask, np.random.default_rng(seed))
        assert y.dtype == np.int64 and y.shape == (8, 8)
        np.testing.assert_array_equal(x[0] > 0.5, y == 4)


def _write_folder(root: Path, mask_value: int = 1, mask_mode: str = "L") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("background\nthing\n", encoding="utf-8")
    for split, count in (("train", 2), ("val", 1)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (6, 4), (10 * i, 0, 0)).save(root / split / "images" / f"{i}.png")
            mask = np.zeros((4, 6), np.uint8)
            mask[1, 2] = mask_value
            Image.fromarray(mask, "L").convert(mask_mode).save(root / split / "masks" / f"{i}.png")


def test_segmentation_folder_pairs_images_with_same_named_masks(tmp_path: Path) -> None:
    _write_folder(tmp_path)
    (train_images, train_masks), (_, val_masks), classes = read_segmentation_folder(str(tmp_path))
    assert classes == ["background", "thing"]
    assert len(train_images) == len(train_masks) == 2 and len(val_masks) == 1
    assert train_images[1].shape == (4, 6, 3)
    assert train_masks[1][1, 2] == 1 and train_masks[1].sum() == 1


def test_segmentation_folder_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"classes\.txt: no such file"):
        read_segmentation_folder(str(tmp_path))
    _write_folder(tmp_path / "bad_value", mask_value=7)
    _, (_, masks), _ = read_segmentation_folder(str(tmp_path / "bad_value"))
    with pytest.raises(DataError, match=r"0\.png: mask value 7 is not a class index \(0-1\)"):
        masks[0]
    _write_folder(tmp_path / "rgb", mask_mode="RGB")
    _, (_, masks), _ = read_segmentation_folder(str(tmp_path / "rgb"))
    with pytest.raises(DataError, match="mask mode RGB; expected a single-channel"):
        masks[0]
    _write_folder(tmp_path / "missing")
    (tmp_path / "missing" / "val" / "masks" / "0.png").unlink()
    with pytest.raises(DataError, match=r"val/masks/0\.png: missing"):
        read_segmentation_folder(str(tmp_path / "missing"))


def test_mean_iou_of_a_hand_made_confusion_matrix() -> None:
    confusion = np.array([[3, 1, 0], [1, 2, 0], [0, 0, 0]])  # class 2 absent: not averaged
    assert mean_iou(confusion) == pytest.approx((3 / 5 + 2 / 4) / 2)


def test_segmentation_loss_and_accuracy_skip_ignored_pixels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 2, 2)).astype("float32")
    labels = rng.integers(0, 3, (2, 2, 2))
    labels[0, 0, 0] = 255
    task = Segmentation(3)
    valid = labels != 255
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.where(valid, labels, 0)[:, None], 1)[:, 0]
    loss = task.loss(paddle.to_tensor(logits), paddle.to_tensor(labels))
    assert float(loss) == pytest.approx(-picked[valid].mean(), rel=1e-5)
    correct, targets = task.counts(paddle.to_tensor(logits), paddle.to_tensor(labels))
    assert targets == 7 and correct == int(((logits.argmax(1) == labels) & valid).sum())


def test_unet_gives_per_pixel_logits_and_names_bad_sizes() -> None:
    model = build_backbone("unet", 5)
    assert model(paddle.randn([2, 3, 16, 24])).shape == [2, 5, 16, 24]
    with pytest.raises(ValueError, match="multiples of 8, got 12x16"):
        model(paddle.randn([1, 3, 12, 16]))
    with pytest.raises(ModelError, match=r"model\.head: unet predicts per pixel"):
        build_backbone("unet", 5, "article")


def test_transposed_conv_slots_become_upsampling_swint() -> None:
    model = build_backbone("unet", 4)
    rules = [ReplaceRule(slots=["up3.up", "down3.conv2"], window_size=2)]
    report = replace_slots(model, rules, 32)
    assert model.up3.up.upsample and not model.up3.up.downsample
    assert isinstance(model.down3.conv2, SwinT) and not model.down3.conv2.upsample
    assert [path for path, _, _ in report.replaced] == ["down3.conv2", "up3.up"]
    assert model(paddle.randn([1, 3, 32, 32])).shape == [1, 4, 32, 32]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.dataset=cifar10"], "data.dataset: task segmentation needs one of"),
        (["task=classification"], "data.dataset: task classification needs one of"),
        (
            ["task=classification", "data.dataset=shapes"],
            "model.backbone: task classification needs one of",
        ),
    ],
)
def test_task_must_fit_data_and_backbone(overrides: list[str], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(ROOT / "recipes" / "unet.yaml", overrides)


@pytest.fixture(scope="module")
def swin_unet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch swin-unet run at 32x32 on 48 generated images."""
    runs = tmp_path_factory.mktemp("runs")
    overrides = [
        f"output.runs_dir={runs}",
        "data.train_size=48",
        "data.val_size=16",
        "data.num_workers=0",
        "data.image_size=32",
        "training.batch_size=16",
        "training.epochs=2",
    ]
    args = ["train", str(ROOT / "recipes" / "swin-unet.yaml"), "--quiet"]
    result = runner.invoke(app, [*args, *(a for o in overrides for a in ("--set", o))])
    assert result.exit_code == 0, result.output
    (run,) = runs.iterdir()
    return run


def test_swin_unet_run_records_pixel_metrics_and_miou(swin_unet_run: Path) -> None:
    epochs = pd.read_csv(swin_unet_run / "epochs.csv")
    assert list(epochs["epoch"]) == [1, 2]
    assert epochs["val_miou"].between(0, 1).all() and epochs["val_acc1"].between(0, 1).all()
    summary = json.loads((swin_unet_run / "summary.json").read_text())
    assert summary["task"] == "segmentation" and summary["swint_slots"] == 6
    assert summary["best_val_miou"] == pytest.approx(epochs["val_miou"].max(), rel=1e-4)
    assert (swin_unet_run / "checkpoints" / "best.safetensors").is_file()


def test_compare_shows_miou(swin_unet_run: Path, tmp_path: Path) -> None:
    compared = runner.invoke(app, ["compare", str(swin_unet_run), "--out", str(tmp_path / "c")])
    assert compared.exit_code == 0, compared.output
    assert "best val miou" in compared.output


def test_export_of_a_segmentation_run_gives_per_pixel_logits(
    swin_unet_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    result = runner.invoke(app, ["export", str(swin_unet_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    layer, info = load_exported(out)
    assert info.classes == SEGMENTATION_CLASSES
    model = open_trained_run(swin_unet_run).load_model("best")[0]
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    got = run_logits(layer, x)
    assert got.shape == (2, 11, 32, 32)
    np.testing.assert_allclose(got, run_logits(model, x), atol=1e-5, rtol=1e-5)
    assert json.loads((out / "model.json").read_text())["task"] == "segmentation"


def test_predict_refuses_a_segmentation_run_in_one_line(swin_unet_run: Path) -> None:
    result = runner.invoke(app, ["predict", str(swin_unet_run), "any.png"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {swin_unet_run}: a segmentation run; predict handles classification and "
        "detection runs"
    )


def test_segmentation_validation_metrics_match_numpy() -> None:
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((2, 3, 4, 4)).astype("float32")
    labels = rng.integers(0, 3, (2, 4, 4))
    labels[1, :2] = 255
    task = Segmentation(3)
    metrics = task.eval_metrics(task.eval_sums(paddle.to_tensor(logits), paddle.to_tensor(labels)))
    valid = labels != 255
    predicted = logits.argmax(1)
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (labels[valid], predicted[valid]), 1)
    assert metrics["val_acc1"] == pytest.approx((predicted == labels)[valid].mean())
    assert metrics["val_miou"] == pytest.approx(mean_iou(confusion))
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.where(valid, labels, 0)[:, None], 1)[:, 0]
    assert metrics["val_loss"] == pytest.approx(-picked[valid].mean(), rel=1e-5)


def test_a_segmentation_run_does_not_suggest_predict(tmp_path: Path) -> None:
    from swint_cli.cli.train import next_commands

    lines = next_commands(tmp_path, "finished", "segmentation")
    assert not any("predict" in line for line in lines)
    assert any("swint export" in line for line in lines)
