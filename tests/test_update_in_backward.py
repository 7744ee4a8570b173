"""The optimizer's update inside backward (``training.optimizer.in_backward``): the updates
of a step after backward, derived by hand for Momentum with L2 decay, each gradient freed as
soon as it is applied, through recompute and the trainer's resume, and the combinations it
refuses."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import paddle
import pandas as pd
import pytest
from tiny_runs import QUICKSTART, StopAfter, learning_columns, tiny

from swint_cli import SwinT
from swint_cli.recipe import RecipeError, load_recipe
from swint_cli.recipe.schema import Optimizer, TrainingSection
from swint_cli.runs import RunError
from swint_cli.train import TrainOptions, train
from swint_cli.train.distributed import ParallelContext
from swint_cli.train.optimizers import build_optimizer
from swint_cli.train.session import build_session, refuse_update_in_backward


def test_momentum_with_l2_decay_in_backward_follows_the_hand_derivation() -> None:
    """Loss sum(W * G) gives the gradient G exactly. Momentum (mu) with L2 decay (wd):
    v1 = G + wd W0, W1 = W0 - lr1 v1; v2 = mu v1 + G + wd W1, W2 = W1 - lr2 v2, each step at
    the learning rate set before it. The gradient is freed once applied."""
    rng = np.random.default_rng(0)
    layer = paddle.nn.Linear(3, 2, bias_attr=False)
    w0 = rng.standard_normal((3, 2)).astype("float32")
    layer.weight.set_value(w0)
    g = rng.standard_normal((3, 2)).astype("float32")
    config = Optimizer(learning_rate=0.1, momentum=0.9, weight_decay=0.05, in_backward=True)
    optimizer = build_optimizer(config, layer)
    w, v = w0.astype("float64"), np.zeros((3, 2))
    for lr in (0.1, 0.03):
        optimizer.set_lr(lr)
        before = layer.weight.numpy().copy()
        (layer.weight * paddle.to_tensor(g)).sum().backward()
        assert layer.weight.grad is None  # applied and freed inside backward
        assert not np.array_equal(layer.weight.numpy(), before)
        v = 0.9 * v + g + 0.05 * w
        w = w - lr * v
        optimizer.step()  # what the trainer's step still calls: nothing left to apply
        np.testing.assert_allclose(layer.weight.numpy(), w, rtol=1e-6, atol=1e-7)


class Small(paddle.nn.Layer):
    """A BatchNorm, then a SwinT recomputing its blocks with dropout and drop path."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = paddle.nn.BatchNorm2D(8)
        self.swint = SwinT(
            8, 8, (4, 4), num_heads=2, window_size=2, dropout=0.1, droppath=0.3, recompute=True
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.swint(self.bn(x))


def _trained(config: Optimizer, steps: int = 3) -> dict[str, np.ndarray]:
    """Small's parameters and optimizer state after ``steps`` steps of the trainer's order
    (backward, step, clear_grad) on fixed batches, random draws from seed 7."""
    paddle.seed(0)
    model = Small()
    optimizer = build_optimizer(config, model)
    rng = np.random.default_rng(1)
    paddle.seed(7)
    for _ in range(steps):
        x = paddle.to_tensor(rng.standard_normal((2, 8, 4, 4)).astype("float32"))
        model(x).square().mean().backward()
        optimizer.step()
        optimizer.clear_grad()
    found = {}
    state = optimizer.state_dict()
    for name, param in model.named_parameters():
        found[name] = param.numpy()
        for key, value in state.items():  # e.g. "linear_3.w_0_velocity_0" for linear_3.w_0
            if key.startswith(param.name + "_"):
                found[f"{name} {key[len(param.name) :]}"] = value.numpy()
    return found


@pytest.mark.parametrize("name", ["momentum", "sgd", "adamw"])
@pytest.mark.parametrize("decay", ["all", "weights"])
def test_updates_in_backward_equal_the_step_after_backward(name: str, decay: str) -> None:
    """Each optimizer, without and with decay groups, through recompute and drop path: the
    parameters and the optimizer's state after three steps are those of ``step()`` after
    backward."""
    config = Optimizer(name=name, learning_rate=0.05, weight_decay=0.01, decay=decay)
    expected = _trained(config)
    found = _trained(config.model_copy(update={"in_backward": True}))
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(found[key], value, rtol=1e-6, atol=1e-7, err_msg=key)


def test_each_gradient_is_freed_as_soon_as_it_is_applied() -> None:
    """Observed from a second hook on every parameter, run after the update's: at no point
    of the backward pass does any parameter hold a gradient, so the model's gradients never
    exist together."""
    paddle.seed(0)
    model = Small()
    build_optimizer(Optimizer(in_backward=True), model)
    params = [p for p in model.parameters() if not p.stop_gradient]
    alive: list[int] = []
    for param in params:
        param._register_backward_hook(lambda: alive.append(sum(p.grad is not None for p in params)))
    model(paddle.randn([2, 8, 4, 4])).square().mean().backward()
    assert len(alive) == len(params)
    assert max(alive) == 0


def test_a_run_updating_in_backward_resumes_to_the_run_updating_after(tmp_path: Path) -> None:
    """The quickstart (two SwinTs with drop path, Momentum), interrupted mid-epoch and resumed
    with the update in backward, gives the epochs of an uninterrupted run without it."""
    straight = train(load_recipe(QUICKSTART, tiny(tmp_path / "a")), TrainOptions(quiet=True))
    in_backward = tiny(tmp_path / "b", "training.optimizer.in_backward=true")
    stopped = train(load_recipe(QUICKSTART, in_backward), TrainOptions(quiet=True), StopAfter(8))
    assert stopped.status == "interrupted"
    resumed = train(None, TrainOptions(resume=stopped.run_dir, quiet=True))  # type: ignore[arg-type]
    assert resumed.status == "finished", resumed.message
    assert load_recipe(resumed.run_dir / "recipe.yaml").training.optimizer.in_backward is True
    pd.testing.assert_frame_equal(
        learning_columns(resumed.run_dir), learning_columns(straight.run_dir), atol=1e-5, rtol=0
    )


def test_clipping_with_the_update_in_backward_is_a_recipe_error() -> None:
    assignments = ["training.optimizer.in_backward=true", "training.clip_grad_norm=1.0"]
    expected = "training.optimizer.in_backward: cannot be combined with training.clip_grad_norm"
    with pytest.raises(RecipeError, match=re.escape(expected)):
        load_recipe(QUICKSTART, assignments)


@pytest.mark.parametrize(
    ("parallel", "amp", "message"),
    [(True, False, "not with data-parallel training"), (False, True, "not with training.amp")],
)
def test_the_update_in_backward_refuses_what_needs_every_gradient(
    parallel: bool, amp: bool, message: str
) -> None:
    training = TrainingSection(optimizer=Optimizer(in_backward=True))
    with pytest.raises(RunError, match=f"training.optimizer.in_backward: {message}"):
        refuse_update_in_backward(training, parallel, amp)
    refuse_update_in_backward(TrainingSection(), parallel, amp)  # off: nothing to refuse


def test_a_data_parallel_session_refuses_the_update_in_backward(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Through build_session, as a launched process builds it: with two processes the
    recipe's update inside backward is refused before any data or model is built."""
    monkeypatch.setattr(
        "swint_cli.train.session.init_parallel", lambda: ParallelContext(rank=0, world_size=2)
    )
    built: list[str] = []
    monkeypatch.setattr(
        "swint_cli.train.session.build_datasets", lambda *args: built.append("data")
    )
    recipe = load_recipe(QUICKSTART, tiny(tmp_path, "training.optimizer.in_backward=true"))
    with pytest.raises(RunError, match=re.escape("in_backward: not with data-parallel")):
        build_session(recipe, TrainOptions(quiet=True))
    assert built == []
