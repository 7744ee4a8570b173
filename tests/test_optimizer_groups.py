"""training.optimizer.groups: a learning-rate multiplier and a weight decay of their own for
the parameters a group names, ``@swapped`` naming the new SwinT slots; checked against
SGD's update written out in NumPy."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from swint_cli.errors import UserError
from swint_cli.models import build_backbone, replace_slots
from swint_cli.recipe.schema import Optimizer, ParamGroup, ReplaceRule
from swint_cli.train.optimizers import build_optimizer


def test_groups_set_each_parameters_rate_and_decay_as_sgd_applies_them() -> None:
    """SGD at 0.1 with L2 decay 0.5: a swapped SwinT parameter moves by 10x the rate, the
    head without decay, the rest by ``-lr * (grad + 0.5 * w)``."""
    paddle.seed(0)
    model = build_backbone("small_cnn", 4)
    rule = ReplaceRule(slots="stage3.conv2", num_heads=2, window_size=4)
    report = replace_slots(model, [rule], 32)
    groups = [ParamGroup(params="@swapped", lr_mult=10), ParamGroup(params="fc.*", weight_decay=0)]
    config = Optimizer(name="sgd", learning_rate=0.1, weight_decay=0.5, groups=groups)
    swapped = [path for path, _, _ in report.replaced]
    optimizer = build_optimizer(config, model, swapped=swapped)
    before = {name: p.numpy().copy() for name, p in model.named_parameters()}
    model(paddle.randn([2, 3, 32, 32])).sum().backward()
    grads = {
        name: p.grad.numpy().copy() for name, p in model.named_parameters() if p.grad is not None
    }
    optimizer.step()
    after = {name: p.numpy() for name, p in model.named_parameters()}
    swint = next(name for name in grads if name.startswith("stage3.conv2."))
    expected = {
        swint: before[swint] - 0.1 * 10 * (grads[swint] + 0.5 * before[swint]),
        "fc.weight": before["fc.weight"] - 0.1 * grads["fc.weight"],
        "stem.weight": before["stem.weight"]
        - 0.1 * (grads["stem.weight"] + 0.5 * before["stem.weight"]),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(after[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_group_matching_nothing_is_one_line() -> None:
    config = Optimizer(groups=[ParamGroup(params="@swapped", lr_mult=10)])
    with pytest.raises(UserError, match=r"^training\.optimizer\.groups\[0\]\.params: '@swapped' "):
        build_optimizer(config, build_backbone("small_cnn", 4))  # nothing swapped
