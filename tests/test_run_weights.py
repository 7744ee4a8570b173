"""A run's own weights as ``model.weights``: a swint classifier's SwinT layers load after the
surgery, a detector's into every part (its classifier fresh for another class count), and a
classifier takes a detector's backbone. Every loaded tensor is compared with the file's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from swint_cli.files import write_arrays
from swint_cli.models import ModelError, build_model
from swint_cli.recipe.schema import ModelSection

# small_cnn at 32x32 as the quickstart swaps it: stage1.conv2 (16x16), stage2.conv2 (8x8)
SWAPS = [
    {"slots": "stage1.conv2", "num_heads": 2, "window_size": 4},
    {"slots": "stage2.conv2", "num_heads": 4, "window_size": 4},
]
STAGE3 = {"slots": "stage3.conv2", "num_heads": 4, "window_size": 4}  # 4x4
DETECTOR = {"channels": 16, "head_depth": 1, "extra_levels": 1}


def _model(task: str = "classification", num_classes: int = 10, **section) -> paddle.nn.Layer:
    if task == "detection":
        section.setdefault("detector", DETECTOR)
    model_section = ModelSection(backbone="small_cnn", num_classes=num_classes, **section)
    return build_model(model_section, 32, task)


def _randomised(model: paddle.nn.Layer, path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """``model``'s state with every float tensor drawn afresh (so nothing matches a new
    model's initialisation), written to ``path``; the arrays written."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, value in model.state_dict().items():
        array = value.numpy()
        if array.dtype.kind == "f":
            array = rng.normal(size=array.shape).astype(array.dtype)
        state[key] = array
    write_arrays(path, state)
    return state


def _equal_to_file(model: paddle.nn.Layer, state: dict[str, np.ndarray], keys) -> None:
    own = model.state_dict()
    for key in keys:
        np.testing.assert_array_equal(own[key].numpy(), state[key], err_msg=key)


def test_a_swint_classifiers_weights_load_into_its_swinT_layers(tmp_path: Path) -> None:
    source, _ = _model(replace=SWAPS)
    state = _randomised(source, tmp_path / "run.safetensors")
    target, report = _model(replace=SWAPS, weights=str(tmp_path / "run.safetensors"))
    assert report.weights.fresh == {} and report.weights.unexpected == []
    assert report.weights.loaded == len(state)
    assert any("relative_position_bias_table" in key for key in state)
    _equal_to_file(target, state, state)


def test_slots_only_the_new_recipe_swaps_start_fresh_as_swapped(tmp_path: Path) -> None:
    source, _ = _model(replace=SWAPS)
    state = _randomised(source, tmp_path / "run.safetensors")
    target, report = _model(replace=[*SWAPS, STAGE3], weights=str(tmp_path / "run.safetensors"))
    fresh = report.weights.fresh
    assert fresh and all(key.startswith("stage3.conv2.") for key in fresh)
    assert set(fresh.values()) == {"swapped"} and report.weights.unexpected == []
    kept = [key for key in state if not key.startswith("stage3.conv2.")]
    _equal_to_file(target, state, kept)


def test_a_file_with_swaps_the_recipe_lacks_names_the_first_misfit(tmp_path: Path) -> None:
    source, _ = _model(replace=SWAPS)
    _randomised(source, tmp_path / "run.safetensors")
    with pytest.raises(ModelError, match=r"does not fit the model: the file lacks stage2\.conv2"):
        _model(replace=SWAPS[:1], weights=str(tmp_path / "run.safetensors"))


def test_a_stray_tensor_is_not_taken_for_swinT_layers(tmp_path: Path) -> None:
    """A plain network's file with one tensor the model lacks still loads before the surgery
    (non-strict): the hybrid slot keeps the file's convolution, the stray tensor is reported."""
    source, _ = _model()
    state = _randomised(source, tmp_path / "plain.safetensors")
    write_arrays(tmp_path / "plain.safetensors", {**state, "extra.weight": np.ones(3, "float32")})
    hybrid = [{**SWAPS[1], "hybrid": True}]
    path = str(tmp_path / "plain.safetensors")
    target, report = _model(replace=hybrid, weights=path, weights_strict=False)
    assert report.weights.unexpected == ["extra.weight"]
    np.testing.assert_array_equal(
        target.stage2.conv2.conv.weight.numpy(), state["stage2.conv2.weight"]
    )


def test_a_detectors_weights_load_into_every_part_but_another_class_counts_classifiers(
    tmp_path: Path,
) -> None:
    source, _ = _model("detection", num_classes=3, replace=SWAPS[1:])
    state = _randomised(source, tmp_path / "detector.safetensors")
    path = str(tmp_path / "detector.safetensors")
    target, report = _model("detection", num_classes=5, replace=SWAPS[1:], weights=path)
    classifiers = ["head.class_logits.weight", "head.class_logits.bias"]
    classifiers += ["backbone.fc.weight", "backbone.fc.bias"]
    assert report.weights.fresh == dict.fromkeys(classifiers, "head")
    assert report.weights.loaded == len(state) - len(classifiers)
    _equal_to_file(target, state, [key for key in state if key not in classifiers])


def test_a_plain_detectors_weights_leave_the_slots_a_recipe_swaps_fresh(tmp_path: Path) -> None:
    source, _ = _model("detection", num_classes=3)
    state = _randomised(source, tmp_path / "detector.safetensors")
    path = str(tmp_path / "detector.safetensors")
    target, report = _model("detection", num_classes=3, replace=SWAPS[1:], weights=path)
    assert report.weights.fresh == {"backbone.stage2.conv2.weight": "swapped"}
    _equal_to_file(target, state, [key for key in state if "stage2.conv2" not in key])


def test_a_detector_with_another_pyramid_is_one_error_naming_its_tensor(tmp_path: Path) -> None:
    source, _ = _model("detection", num_classes=3)
    _randomised(source, tmp_path / "detector.safetensors")
    wider = {**DETECTOR, "channels": 32}
    with pytest.raises(ModelError, match=r"pyramid\.\S+ has shape \[16, .* \[32, "):
        _model("detection", detector=wider, weights=str(tmp_path / "detector.safetensors"))


def test_a_classifier_takes_a_detectors_backbone(tmp_path: Path) -> None:
    source, _ = _model("detection", num_classes=10, replace=SWAPS)
    state = _randomised(source, tmp_path / "detector.safetensors")
    target, report = _model(replace=SWAPS, weights=str(tmp_path / "detector.safetensors"))
    assert report.weights.fresh == {}
    backbone = {key.removeprefix("backbone."): value for key, value in state.items()}
    _equal_to_file(target, backbone, target.state_dict())
