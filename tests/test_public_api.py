"""swint_cli.swap and swint_cli.build_model on a network defined right here, as the README
shows them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest
from paddle import nn

import swint_cli
from swint_cli.models import ModelError
from swint_cli.nn import SwinT
from swint_cli.recipe import RecipeError


class Net(nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2D(3, 16, 3, padding=1)
        self.body = nn.Conv2D(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 4)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.body(nn.functional.relu(self.stem(x)))
        return self.fc(x.mean(axis=[2, 3]))


def test_swap_replaces_the_named_slot_in_place_and_says_what_it_did() -> None:
    model = Net()
    stem = model.stem.weight.numpy()
    report = swint_cli.swap(model, [{"slots": "body", "num_heads": 2, "window_size": 4}], 16)
    assert isinstance(model.body, SwinT) and [path for path, _, _ in report.replaced] == ["body"]
    np.testing.assert_array_equal(model.stem.weight.numpy(), stem)  # the rest untouched
    assert report.params_after > report.params_before
    assert model(paddle.randn([2, 3, 16, 16])).shape == [2, 4]


def test_swap_refuses_a_bad_rule_in_one_line() -> None:
    with pytest.raises(RecipeError, match=r"model\.replace\[0\]\.window: unknown key"):
        swint_cli.swap(Net(), [{"slots": "body", "window": 4}], 16)
    with pytest.raises(ModelError, match="nope"):
        swint_cli.swap(Net(), [{"slots": "nope"}], 16)


def test_build_model_builds_a_recipe_as_train_does(tmp_path: Path) -> None:
    recipe = {
        "model": {
            "backbone": "small_cnn",
            "num_classes": 5,
            "replace": [{"slots": "stage1.conv2", "num_heads": 2, "window_size": 4}],
        },
        "data": {"image_size": 32},
    }
    model = swint_cli.build_model(recipe)
    assert model.training and isinstance(model.stage1.conv2, SwinT)
    assert model(paddle.randn([1, 3, 32, 32])).shape == [1, 5]
    path = tmp_path / "recipe.yaml"
    path.write_text("model:\n  backbone: small_cnn\n  num_classes: 3\n")
    assert swint_cli.build_model(path).fc.weight.shape == [256, 3]  # small_cnn: 256 features
