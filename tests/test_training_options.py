"""Training options: losses against NumPy derivations, weight-decay groups, gradient clipping,
warm-up in steps, and their recipe errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import paddle
import pytest
from tiny_runs import QUICKSTART, ROOT, tiny

from swint_cli import SwinT
from swint_cli.recipe import RecipeError, load_recipe
from swint_cli.recipe.schema import Loss, Optimizer, Schedule
from swint_cli.train import TrainOptions, train
from swint_cli.train.losses import SMOOTH, soft_dice_loss
from swint_cli.train.optimizers import build_optimizer, decays
from swint_cli.train.schedule import learning_rate
from swint_cli.train.tasks import Classification, Segmentation

IGNORE = 255


def softmax(z: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def masks_and_logits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 classes on 2 images of 3x5 pixels; class 3 never occurs; two pixels ignored."""
    rng = np.random.default_rng(seed)
    masks = rng.integers(0, 3, (2, 3, 5))
    masks[0, 0, :2] = IGNORE
    return rng.standard_normal((2, 4, 3, 5)), masks


def numpy_dice(logits: np.ndarray, masks: np.ndarray) -> tuple[float, np.ndarray]:
    """Soft Dice over the foreground classes and its gradient in the logits, derived by hand.

    L = 1 - (1/F) sum_c (2 I_c + s) / (U_c + s), I_c = sum_n p_cn y_cn, U_c = sum_n p_cn + y_cn
    over the valid pixels n, for c = 1..K-1 (F of them). dL/dp_cn = -(1/F) (2 y_cn (U_c + s)
    - (2 I_c + s)) / (U_c + s)^2 (0 for c = 0 and ignored n), then through the softmax:
    dL/dz_kn = p_kn (g_kn - sum_c g_cn p_cn).
    """
    classes = logits.shape[1]
    p = softmax(logits, axis=1)  # (B, K, H, W)
    valid = (masks != IGNORE)[:, None]
    y = np.stack([(masks == c) for c in range(classes)], axis=1) & valid
    pv = p * valid
    inter = (pv * y).sum(axis=(0, 2, 3))
    union = pv.sum(axis=(0, 2, 3)) + y.sum(axis=(0, 2, 3))
    fg = slice(1, classes)
    foreground = classes - 1
    loss = 1 - ((2 * inter[fg] + SMOOTH) / (union[fg] + SMOOTH)).mean()
    g = np.zeros_like(p)
    num, den = (2 * inter + SMOOTH)[None, :, None, None], (union + SMOOTH)[None, :, None, None]
    g[:, fg] = (-(2 * y * den - num) / den**2 / foreground)[:, fg]
    g *= valid
    grad = p * (g - (g * p).sum(axis=1, keepdims=True))
    return float(loss), grad


def test_soft_dice_loss_and_gradient_match_the_numpy_derivation() -> None:
    logits, masks = masks_and_logits()
    z = paddle.to_tensor(logits.astype("float32"), stop_gradient=False)
    loss = soft_dice_loss(z, paddle.to_tensor(masks), IGNORE)
    loss.backward()
    expected, grad = numpy_dice(logits, masks)
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(z.grad.numpy(), grad, atol=1e-6)


def test_a_perfect_prediction_has_dice_loss_zero() -> None:
    _, masks = masks_and_logits()
    logits = np.where(np.arange(4)[None, :, None, None] == masks[:, None], 30.0, -30.0)
    loss = soft_dice_loss(paddle.to_tensor(logits), paddle.to_tensor(masks), IGNORE)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def numpy_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, axis: int, weights: np.ndarray, smoothing: float
) -> float:
    """(1 - e) * weighted mean of -log p_label + e * mean of -mean_k log p_k, over the
    targets not ignored."""
    logp = np.log(softmax(logits, axis))
    logp = np.moveaxis(logp, axis, -1)  # (..., K)
    valid = labels != IGNORE
    picked = np.take_along_axis(logp, np.where(valid, labels, 0)[..., None], -1)[..., 0]
    w = weights[np.where(valid, labels, 0)] * valid
    ce = -(w * picked).sum() / w.sum()
    uniform = -(logp.mean(axis=-1) * valid).sum() / valid.sum()
    return (1 - smoothing) * ce + smoothing * uniform


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_segmentation_loss_is_weighted_smoothed_cross_entropy_plus_dice(smoothing: float) -> None:
    logits, masks = masks_and_logits(1)
    weights = np.array([0.5, 1.0, 2.0, 1.0])
    loss = Loss(label_smoothing=smoothing, class_weights=weights.tolist(), dice_weight=0.6)
    task = Segmentation(4, loss)
    got = float(task.loss(paddle.to_tensor(logits.astype("float32")), paddle.to_tensor(masks)))
    ce = numpy_cross_entropy(logits, masks, 1, weights, smoothing)
    assert got == pytest.approx(0.4 * ce + 0.6 * numpy_dice(logits, masks)[0], abs=1e-5)


def test_classification_loss_with_label_smoothing() -> None:
    rng = np.random.default_rng(2)
    logits, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    task = Classification(Loss(label_smoothing=0.2))
    got = float(task.loss(paddle.to_tensor(logits.astype("float32")), paddle.to_tensor(labels)))
    assert got == pytest.approx(numpy_cross_entropy(logits, labels, -1, np.ones(5), 0.2), abs=1e-5)


def test_plain_loss_is_unchanged_cross_entropy() -> None:
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    got = float(Classification().loss(paddle.to_tensor(logits), paddle.to_tensor(labels)))
    assert got == pytest.approx(numpy_cross_entropy(logits, labels, -1, np.ones(5), 0.0), abs=1e-9)


class Small(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.conv = paddle.nn.Conv2D(8, 8, 3, padding=1)
        self.bn = paddle.nn.BatchNorm2D(8)
        self.swint = SwinT(8, 8, num_heads=2, window_size=4, layer_scale=0.1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.swint(self.bn(self.conv(x)))


def test_weights_decay_selects_the_matrices_and_kernels_only() -> None:
    names = {name for name, param in Small().named_parameters() if decays(name, param)}
    assert "conv.weight" in names and "swint.blocks.0.attn.qkv.weight" in names
    for kept in (
        "conv.bias",
        "bn.weight",
        "swint.blocks.0.norm1.weight",
        "swint.blocks.0.ls1.gamma",
    ):
        assert kept not in names
    assert "swint.blocks.1.attn.relative_position_bias_table" not in names
    assert all(param.ndim > 1 for name, param in Small().named_parameters() if name in names)


@pytest.mark.parametrize("name", ["momentum", "adamw"])
@pytest.mark.parametrize("decay", ["all", "weights"])
def test_weight_decay_groups_under_a_zero_gradient(name: str, decay: str) -> None:
    """With a zero gradient one step leaves w (1 - lr wd) for L2 (momentum) and decoupled
    (AdamW) decay alike, where the parameter decays, and w where it does not."""
    model = Small()
    before = {n: p.numpy().copy() for n, p in model.named_parameters() if not p.stop_gradient}
    config = Optimizer(name=name, learning_rate=0.5, weight_decay=0.1, decay=decay)
    optimizer = build_optimizer(config, model)
    (model(paddle.randn([1, 8, 4, 4])) * 0).sum().backward()
    optimizer.step()
    for n, p in model.named_parameters():
        if n not in before:
            continue
        matrix = p.ndim > 1 and not n.endswith("relative_position_bias_table")
        shrinks = decay == "all" or matrix
        expected = before[n] * (1 - 0.5 * 0.1) if shrinks else before[n]
        np.testing.assert_allclose(p.numpy(), expected, rtol=1e-6, atol=1e-7, err_msg=n)


def test_clip_grad_norm_scales_the_global_gradient() -> None:
    """SGD, lr 1, no decay: gradients g1 = (3, 0) and g2 = (0, 4) have global norm 5, so with
    a clip of 2.5 each parameter moves by -g / 2."""
    layer = paddle.nn.Linear(2, 1)
    weight, bias = layer.weight.numpy().copy(), layer.bias.numpy().copy()
    optimizer = build_optimizer(
        Optimizer(name="sgd", learning_rate=1.0, weight_decay=0.0), layer, 2.5
    )
    g_weight, g_bias = np.array([[3.0], [0.0]], "float32"), np.array([4.0], "float32")
    (
        (layer.weight * paddle.to_tensor(g_weight)).sum()
        + (layer.bias * paddle.to_tensor(g_bias)).sum()
    ).backward()
    optimizer.step()
    np.testing.assert_allclose(layer.weight.numpy(), weight - g_weight / 2, rtol=1e-6)
    np.testing.assert_allclose(layer.bias.numpy(), bias - g_bias / 2, rtol=1e-6)


def test_warmup_in_steps_ramps_within_the_first_epoch() -> None:
    schedule = Schedule(name="cosine", warmup_steps=4)
    rates = [learning_rate(1.0, schedule, 2, e, s, 10) for e in (1, 2) for s in range(10)]
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    # then cosine over the 16 batches left: batch 4 + t at 0.5 (1 + cos(pi t / 16))
    assert rates[4:] == pytest.approx([0.5 * (1 + math.cos(math.pi * t / 16)) for t in range(16)])


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        (["training.schedule.warmup_epochs=1", "training.schedule.warmup_steps=10"], "give one"),
        (["training.loss.dice_weight=0.5"], "dice_weight: applies to segmentation"),
        (["training.loss.class_weights=[1, 2]"], "class_weights: expected 10 numbers"),
        (["training.loss.class_weights=[0,0,0,0,0,0,0,0,0,0]"], "at least one weight above 0"),
        (["training.loss.label_smoothing=1.0"], "label_smoothing: expected a number < 1"),
        (["training.loss.dice_weight=1.5"], "dice_weight: expected a number <= 1"),
        (["training.clip_grad_norm=0"], "clip_grad_norm: expected a positive number"),
        (["training.optimizer.decay=none"], "training.optimizer.decay: expected one of"),
    ],
)
def test_impossible_training_options_are_one_line_errors(
    assignments: list[str], message: str
) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(QUICKSTART, assignments)


def test_a_run_with_every_training_option(tmp_path: Path) -> None:
    options = [
        "training.optimizer.decay=weights",
        "training.clip_grad_norm=5.0",
        "training.loss.label_smoothing=0.1",
        "training.schedule.warmup_epochs=0",
        "training.schedule.warmup_steps=3",
        "model.replace[0].residual_norm=post_zero",
        "model.replace[1].hybrid=true",
    ]
    recipe = load_recipe(QUICKSTART, tiny(tmp_path, *options))
    result = train(recipe, TrainOptions(quiet=True, epochs=1))
    assert result.exit_code == 0, result.message
    resolved = load_recipe(result.run_dir / "recipe.yaml")
    assert resolved.training.optimizer.decay == "weights"
    assert resolved.training.loss.label_smoothing == 0.1


def test_a_segmentation_run_with_dice(tmp_path: Path) -> None:
    overrides = [
        f"output.runs_dir={tmp_path}",
        "data.train_size=32",
        "data.val_size=16",
        "data.num_workers=0",
        "training.loss.dice_weight=0.6",
        "training.loss.class_weights=[0.2,1,1,1,1,1,1,1,1,1,1]",
    ]
    recipe = load_recipe(ROOT / "recipes" / "unet.yaml", overrides)
    result = train(recipe, TrainOptions(quiet=True, epochs=1, limit_batches=2))
    assert (result.exit_code, result.task) == (0, "segmentation"), result.message
