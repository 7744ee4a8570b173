"""Recipe loading: validation messages, YAML errors, --set overrides, shipped recipes."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from swint_cli.recipe import RecipeError, dump_recipe, load_recipe

RECIPES = sorted((Path(__file__).parent.parent / "recipes").glob("*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_negative_window_names_the_rule_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "model:\n  replace:\n    - slots: a\n    - slots: b\n      window_size: -3\n",
    )
    with pytest.raises(
        RecipeError,
        match=r"model\.replace\[1\]\.window_size: expected a "
        r"positive integer, got -3",
    ):
        load_recipe(path)


def test_unknown_key_suggests_the_closest_valid_key(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  optimizer:\n    lerning_rate: 0.1\n")
    with pytest.raises(
        RecipeError,
        match=r"training\.optimizer\.lerning_rate: unknown key; did you mean learning_rate\?",
    ):
        load_recipe(path)


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"modle: unknown key; did you mean model\?"):
        load_recipe(write(tmp_path, "modle: {}\n"))


def test_malformed_yaml_reports_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  backbone: resnet50\n  replace: [a, b\n")
    with pytest.raises(RecipeError, match=rf"{path}:\d+:\d+: malformed YAML"):
        load_recipe(path)


def test_missing_recipe_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"nope\.yaml: no such recipe file"):
        load_recipe(tmp_path / "nope.yaml")


def test_wrong_choice_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as error:
        load_recipe(write(tmp_path, "model:\n  backbone: resnet5\n"))
    assert str(error.value) == (
        f"{tmp_path / 'recipe.yaml'}: model.backbone: expected one of 'resnet18', 'resnet34', "
        "'resnet50', 'resnet101', 'small_cnn', 'swin_t', 'swin_s', 'swin_b', 'unet', or a "
        "network of your own as package.module:factory or path/to/file.py:factory, "
        "got 'resnet5'"
    )


# The README's recipe reference: the backbones of each task, and a data set of each.
CLASSIFIERS = "resnet18, resnet34, resnet50, resnet101, small_cnn, swin_t, swin_s, swin_b"
BACKBONES = {"classification": CLASSIFIERS.split(", "), "segmentation": ["unet"]}
DATASETS = {"classification": "shapes", "segmentation": "segmentation_shapes"}


@pytest.mark.parametrize(
    ("backbone", "task", "other"),
    [
        (name, task, other)
        for task, other in itertools.permutations(BACKBONES)
        for name in BACKBONES[task]
    ],
)
def test_each_backbone_is_accepted_for_its_task_only(
    tmp_path: Path, backbone: str, task: str, other: str
) -> None:
    def recipe(task: str) -> Path:
        text = f"task: {task}\ndata:\n  dataset: {DATASETS[task]}\nmodel:\n  backbone: {backbone}\n"
        return write(tmp_path, text)

    assert load_recipe(recipe(task)).model.backbone == backbone
    with pytest.raises(RecipeError) as error:
        load_recipe(recipe(other))
    listed = ", ".join(BACKBONES[other])
    assert str(error.value).endswith(
        f": model.backbone: task {other} needs one of {listed}, got {backbone!r}"
    )


def test_a_detector_takes_the_classification_backbones_but_not_unet(tmp_path: Path) -> None:
    text = "task: detection\ndata:\n  dataset: detection_shapes\nmodel:\n  backbone: {}\n"
    for name in BACKBONES["classification"]:
        assert load_recipe(write(tmp_path, text.format(name))).task == "detection"
    with pytest.raises(
        RecipeError, match=f"model.backbone: task detection needs one of {CLASSIFIERS}"
    ):
        load_recipe(write(tmp_path, text.format("unet")))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "task: detection",
            "data.dataset: task detection needs one of detection_shapes, "
            "cifar10_canvas, coco, got 'shapes'",
        ),
        ("data:\n  dataset: detection_shapes", "data.dataset: task classification needs one of"),
        (
            "model:\n  features: [layer2]",
            "model.features: applies to detection, not to classification",
        ),
        ("model:\n  detector:\n    channels: 64", "model.detector: applies to detection"),
        (
            "task: detection\ndata:\n  dataset: detection_shapes\n  train_images: x",
            "data.train_images: applies to data.dataset coco, not detection_shapes",
        ),
        (
            "task: detection\ndata:\n  dataset: coco\ntraining:\n  loss:\n    label_smoothing: 0.1",
            "training.loss.label_smoothing: applies to classification "
            "and segmentation, not detection",
        ),
    ],
)
def test_detection_settings_outside_detection_and_the_reverse_name_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(write(tmp_path, text + "\n"))


def test_the_recipe_package_imports_before_the_models() -> None:
    """The schema reads the backbone registry from swint_cli.models, whose surgery names the
    schema's types: importing the recipe package first, in a fresh process, must work."""
    subprocess.run([sys.executable, "-c", "import swint_cli.recipe"], check=True)


def test_set_overrides_nested_keys_and_list_items(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  replace:\n    - slots: layer1.*.conv2\n      num_heads: 2\n")
    recipe = load_recipe(
        path, ["training.epochs=2", "model.replace[0].num_heads=4", "data.path=/x/y.tar.gz"]
    )
    assert recipe.training.epochs == 2
    assert recipe.model.replace[0].num_heads == 4
    assert recipe.data.path == "/x/y.tar.gz"


def test_set_values_are_validated_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"training\.epochs: expected an integer, got 'two'"):
        load_recipe(write(tmp_path, "{}\n"), ["training.epochs=two"])


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("training.epochs", "expected KEY=VALUE"),
        ("model.replace[3].num_heads=2", r"model\.replace has 0 entries, no \[3\]"),
        ("training..epochs=2", "expected a dotted key"),
    ],
)
def test_bad_set_is_reported(tmp_path: Path, assignment: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(write(tmp_path, "{}\n"), [assignment])


def test_resolved_recipe_round_trips_with_defaults(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, "training:\n  epochs: 3\n"))
    dumped = dump_recipe(recipe)
    assert yaml.safe_load(dumped)["training"]["batch_size"] == recipe.training.batch_size
    again = load_recipe(write(tmp_path, dumped))
    assert again == recipe


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_shipped_recipes_validate_and_name_runs_after_their_file(path: Path) -> None:
    assert load_recipe(path).output.name == path.stem  # runs/quickstart-<stamp> and so on


def test_swinresnet_recipe_is_the_articles_setting() -> None:
    recipe = load_recipe(Path(__file__).parent.parent / "recipes" / "swinresnet.yaml")
    heads = [rule.num_heads for rule in recipe.model.replace]
    assert heads == [4, 8, 16, 32]
    assert recipe.training.batch_size == 80 and recipe.training.epochs == 40
    assert recipe.training.optimizer.name == "momentum"
    assert recipe.training.optimizer.learning_rate == 0.01
    assert recipe.training.optimizer.weight_decay == 1e-4
    assert recipe.model.head == "article" and recipe.data.image_size == 224


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_shipped_recipes_build_and_give_logits_at_reduced_resolution(path: Path) -> None:
    """Every recipe's model at 32x32: image logits, per-pixel logits for segmentation, class
    logits at every location for detection."""
    import paddle

    from swint_cli.models import build_model

    recipe = load_recipe(path)
    model, report = build_model(recipe.model, 32, recipe.task)
    built_in = 6 if recipe.model.backbone == "swin_t" else 0  # SwinT layers of the backbone
    assert report.swint_count == len(report.replaced) + built_in
    model.eval()
    with paddle.no_grad():
        logits = model(paddle.randn([2, 3, 32, 32]))
    if recipe.task == "detection":
        logits = logits[0]  # (class logits, box codes, centerness)
        assert logits.shape == [2, len(model.locations.points), recipe.model.num_classes]
        return
    per_pixel = [32, 32] if recipe.task == "segmentation" else []
    assert logits.shape == [2, recipe.model.num_classes, *per_pixel]
    if path.name == "swinresnet.yaml":
        assert report.swint_count == 16


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        (
            "model.replace[0].residual_norm=post_norm",
            "model.replace[0].residual_norm: expected one of 'pre', 'post' or 'post_zero'",
        ),
        ("model.replace[0].layer_scale=0", "model.replace[0].layer_scale: expected a positive"),
        ("model.replace[0].hybrid=maybe", "model.replace[0].hybrid: expected true or false"),
    ],
)
def test_impossible_layer_options_name_the_field(assignment: str, message: str) -> None:
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(Path(__file__).parent.parent / "recipes" / "quickstart.yaml", [assignment])


def test_a_duplicate_key_is_refused_with_its_line(tmp_path: Path) -> None:
    text = "model:\n  backbone: resnet18\n  num_classes: 10\n  backbone: resnet50\n"
    with pytest.raises(RecipeError, match=r"recipe\.yaml:4: duplicate key 'backbone'$"):
        load_recipe(write(tmp_path, text))


def test_a_duplicate_section_is_refused(tmp_path: Path) -> None:
    text = "training:\n  epochs: 2\nmodel:\n  backbone: resnet18\ntraining:\n  epochs: 3\n"
    with pytest.raises(RecipeError, match=r"recipe\.yaml:5: duplicate key 'training'$"):
        load_recipe(write(tmp_path, text))


@pytest.mark.parametrize("text", ["", "\n# only a comment\n"], ids=["empty", "comment"])
def test_an_empty_recipe_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(RecipeError, match=r"the recipe is empty; start from recipes/quickstart"):
        load_recipe(write(tmp_path, text))
