"""Training options: losses against NumPy derivations, weight-decay groups, gradient clipping,
warm-up in steps, and their recipe errors. Each option is checked where the trainer gets it:
the task and the optimizer a recipe builds (``task_for``, ``build_session``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import paddle
import pytest
from tiny_runs import QUICKSTART, ROOT, tiny

from swint_cli import SwinT
from swint_cli.nn import HybridSwinT
from swint_cli.recipe import RecipeError, load_recipe
from swint_cli.recipe.schema import Optimizer, Schedule
from swint_cli.train import TrainOptions, train
from swint_cli.train.losses import soft_dice_loss
from swint_cli.train.optimizers import build_optimizer, decays
from swint_cli.train.schedule import learning_rate
from swint_cli.train.session import build_session
from swint_cli.train.tasks import Classification, task_for

IGNORE = 255
DICE_SMOOTH = 1e-5  # the s of soft_dice_loss's documented formula (SMOOTH, Swin-Unet's 1e-5)
UNET = ROOT / "recipes" / "unet.yaml"  # segmentation, 11 classes, 0.6 Dice


def softmax(z: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def masks_and_logits(seed: int = 0, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` classes on 2 images of 3x5 pixels; only classes 0-2 occur; two pixels
    ignored."""
    rng = np.random.default_rng(seed)
    masks = rng.integers(0, 3, (2, 3, 5))
    masks[0, 0, :2] = IGNORE
    return rng.standard_normal((2, classes, 3, 5)), masks


def numpy_dice(logits: np.ndarray, masks: np.ndarray) -> tuple[float, np.ndarray]:
    """Soft Dice over the foreground classes and its gradient in the logits, derived by hand.

    L = 1 - (1/F) sum_c (2 I_c + s) / (U_c + s), I_c = sum_n p_cn y_cn, U_c = sum_n p_cn + y_cn
    over the valid pixels n, for c = 1..K-1 (F of them). dL/dp_cn = -(1/F) (2 y_cn (U_c + s)
    - (2 I_c + s)) / (U_c + s)^2 (0 for c = 0 and ignored n), then through the softmax:
    dL/dz_kn = p_kn (g_kn - sum_c g_cn p_cn).
    """
    s = DICE_SMOOTH
    classes = logits.shape[1]
    p = softmax(logits, axis=1)  # (B, K, H, W)
    valid = (masks != IGNORE)[:, None]
    y = np.stack([(masks == c) for c in range(classes)], axis=1) & valid
    pv = p * valid
    inter = (pv * y).sum(axis=(0, 2, 3))
    union = pv.sum(axis=(0, 2, 3)) + y.sum(axis=(0, 2, 3))
    fg = slice(1, classes)
    foreground = classes - 1
    loss = 1 - ((2 * inter[fg] + s) / (union[fg] + s)).mean()
    g = np.zeros_like(p)
    num, den = (2 * inter + s)[None, :, None, None], (union + s)[None, :, None, None]
    g[:, fg] = (-(2 * y * den - num) / den**2 / foreground)[:, fg]
    g *= valid
    grad = p * (g - (g * p).sum(axis=1, keepdims=True))
    return float(loss), grad


@pytest.mark.parametrize(
    "faint_shift",
    [0.0, -12.0],
    ids=["every-class-predicted", "a-class-almost-never-predicted"],
)
def test_soft_dice_loss_and_gradient_match_the_numpy_derivation(faint_shift: float) -> None:
    """With class 3 (never in the masks) lowered by 12 its probabilities sum to a few 1e-5,
    so ``s`` weighs on its Dice term (s / (U + s) about 0.2) in the loss and the gradient."""
    logits, masks = masks_and_logits()
    logits[:, 3] += faint_shift
    z = paddle.to_tensor(logits.astype("float32"), stop_gradient=False)
    loss = soft_dice_loss(z, paddle.to_tensor(masks), IGNORE)
    loss.backward()
    expected, grad = numpy_dice(logits, masks)
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(z.grad.numpy(), grad, atol=1e-6)


def test_a_class_absent_from_prediction_and_truth_has_dice_one() -> None:
    """3 classes, two pixels: truth (1, 0), both predicted class 1 (probabilities 1 and
    e^-200). Class 1: I = 1, U = 2 + 1, Dice (2 + s) / (3 + s); class 2, in neither:
    (0 + s) / (0 + s) = 1. Loss 1 - ((2 + s) / (3 + s) + 1) / 2."""
    masks = np.array([[[1, 0]]])  # (1, 1, 2)
    logits = np.zeros((1, 3, 1, 2))
    logits[:, 1] = 200.0
    loss = soft_dice_loss(paddle.to_tensor(logits), paddle.to_tensor(masks), IGNORE)
    s = DICE_SMOOTH
    assert float(loss) == pytest.approx(1 - ((2 + s) / (3 + s) + 1) / 2, abs=1e-12)


def test_a_perfect_prediction_has_dice_loss_zero() -> None:
    _, masks = masks_and_logits()
    logits = np.where(np.arange(4)[None, :, None, None] == masks[:, None], 30.0, -30.0)
    loss = soft_dice_loss(paddle.to_tensor(logits), paddle.to_tensor(masks), IGNORE)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def numpy_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, axis: int, weights: np.ndarray, smoothing: float
) -> float:
    """(1 - e) * weighted mean of -log p_label + e * mean of -mean_k log p_k, over the
    targets not ignored. The weighted mean divides by the sum of the targets' weights
    (Paddle's ``cross_entropy`` with ``weight`` and ``reduction="mean"``)."""
    logp = np.log(softmax(logits, axis))
    logp = np.moveaxis(logp, axis, -1)  # (..., K)
    valid = labels != IGNORE
    picked = np.take_along_axis(logp, np.where(valid, labels, 0)[..., None], -1)[..., 0]
    w = weights[np.where(valid, labels, 0)] * valid
    ce = -(w * picked).sum() / w.sum()
    uniform = -(logp.mean(axis=-1) * valid).sum() / valid.sum()
    return (1 - smoothing) * ce + smoothing * uniform


def recipe_loss(recipe: Path, overrides: list[str], logits: np.ndarray, labels: np.ndarray):
    """The training loss of the task the trainer builds from ``recipe`` with ``overrides``."""
    task = task_for(load_recipe(recipe, overrides))
    return float(task.loss(paddle.to_tensor(logits.astype("float32")), paddle.to_tensor(labels)))


CLASS_WEIGHTS = np.array([0.5, 1.0, 2.0, 1.0, 3.0, 1.0, 1.0, 0.25, 1.0, 1.0])  # quickstart's 10


def classification_batch() -> tuple[np.ndarray, np.ndarray]:
    """Logits ``[8, 10]`` and labels over classes of different weights."""
    logits = np.random.default_rng(2).standard_normal((8, 10))
    return logits, np.array([0, 1, 2, 4, 7, 2, 4, 9])


@pytest.mark.parametrize(
    ("overrides", "weights", "smoothing"),
    [
        (["training.loss.label_smoothing=0.2"], np.ones(10), 0.2),
        ([f"training.loss.class_weights={CLASS_WEIGHTS.tolist()}"], CLASS_WEIGHTS, 0.0),
        (
            [
                "training.loss.label_smoothing=0.2",
                f"training.loss.class_weights={CLASS_WEIGHTS.tolist()}",
            ],
            CLASS_WEIGHTS,
            0.2,
        ),
    ],
    ids=["smoothing", "class-weights", "both"],
)
def test_the_recipe_loss_options_reach_the_classification_loss(
    overrides: list[str], weights: np.ndarray, smoothing: float
) -> None:
    logits, labels = classification_batch()
    expected = numpy_cross_entropy(logits, labels, -1, weights, smoothing)
    plain = numpy_cross_entropy(logits, labels, -1, np.ones(10), 0.0)
    assert abs(expected - plain) > 0.01  # each option changes this batch's loss visibly
    assert recipe_loss(QUICKSTART, overrides, logits, labels) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_segmentation_recipe_loss_is_weighted_smoothed_cross_entropy_plus_dice(
    smoothing: float,
) -> None:
    """recipes/unet.yaml's 0.4 CE + 0.6 Dice, with class weights and label smoothing added."""
    logits, masks = masks_and_logits(1, classes=11)
    weights = np.array([0.2, 1.0, 3.0] + [1.0] * 8)
    overrides = [
        f"training.loss.class_weights={weights.tolist()}",
        f"training.loss.label_smoothing={smoothing}",
    ]
    ce = numpy_cross_entropy(logits, masks, 1, weights, smoothing)
    expected = 0.4 * ce + 0.6 * numpy_dice(logits, masks)[0]
    assert recipe_loss(UNET, overrides, logits, masks) == pytest.approx(expected, abs=1e-5)


def test_plain_loss_is_unchanged_cross_entropy() -> None:
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    got = float(Classification().loss(paddle.to_tensor(logits), paddle.to_tensor(labels)))
    assert got == pytest.approx(numpy_cross_entropy(logits, labels, -1, np.ones(5), 0.0), abs=1e-9)


class Small(paddle.nn.Layer):
    """A norm, then a hybrid slot: a convolution beside a SwinT with layer scale."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = paddle.nn.BatchNorm2D(8)
        swint = SwinT(8, 8, num_heads=2, window_size=4, layer_scale=0.1)
        self.hybrid = HybridSwinT(paddle.nn.Conv2D(8, 8, 3, padding=1), swint)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.hybrid(self.bn(x))


# Swin's set_weight_decay on Small, by hand: the convolution kernel and the attention and MLP
# matrices decay; norms, biases, position-bias tables, layer-scale gammas and the hybrid gain
# do not.
DECAYED = {
    "hybrid.conv.weight",
    "hybrid.swint.blocks.0.attn.qkv.weight",
    "hybrid.swint.blocks.0.attn.proj.weight",
    "hybrid.swint.blocks.0.mlp.fc1.weight",
    "hybrid.swint.blocks.0.mlp.fc2.weight",
    "hybrid.swint.blocks.1.attn.qkv.weight",
    "hybrid.swint.blocks.1.attn.proj.weight",
    "hybrid.swint.blocks.1.mlp.fc1.weight",
    "hybrid.swint.blocks.1.mlp.fc2.weight",
}


def test_weights_decay_selects_the_matrices_and_kernels_only() -> None:
    trainable = {name for name, param in Small().named_parameters() if not param.stop_gradient}
    assert {"bn.bias", "hybrid.conv.bias", "hybrid.gain"} < trainable  # what must not decay
    decayed = {name for name, param in Small().named_parameters() if decays(name, param)}
    assert decayed == DECAYED


@pytest.mark.parametrize("name", ["momentum", "adamw"])
@pytest.mark.parametrize("decay", ["all", "weights"])
def test_weight_decay_groups_under_a_zero_gradient(name: str, decay: str) -> None:
    """With a zero gradient one step leaves w (1 - lr wd) for L2 (momentum) and decoupled
    (AdamW) decay alike, where the parameter decays, and w where it does not. Every
    parameter is set away from 0 first (biases and the hybrid gain start at 0, where
    decay cannot show)."""
    model = Small()
    rng = np.random.default_rng(4)
    before = {}
    for n, p in model.named_parameters():
        if not p.stop_gradient:
            p.set_value(rng.uniform(0.5, 1.5, p.shape).astype("float32"))
            before[n] = p.numpy().copy()
    config = Optimizer(name=name, learning_rate=0.5, weight_decay=0.1, decay=decay)
    optimizer = build_optimizer(config, model)
    (model(paddle.randn([1, 8, 4, 4])) * 0).sum().backward()
    optimizer.step()
    for n, p in model.named_parameters():
        if n not in before:
            continue
        shrinks = decay == "all" or n in DECAYED
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


def test_the_recipe_clip_bounds_the_training_step(tmp_path: Path) -> None:
    """The optimizer a recipe's session trains with (SGD, lr 0.5, no decay, clip 2) given a
    gradient G of global norm N >> 2: each parameter moves by -0.5 G 2 / N, a step of
    length 0.5 * 2 = 1 (unclipped it would be 0.5 N)."""
    overrides = [
        "training.optimizer.name=sgd",
        "training.optimizer.learning_rate=0.5",
        "training.optimizer.weight_decay=0",
        "training.clip_grad_norm=2.0",
    ]
    session = build_session(load_recipe(QUICKSTART, tiny(tmp_path, *overrides)), TrainOptions())
    params = [p for p in session.model.parameters() if not p.stop_gradient]
    rng = np.random.default_rng(5)
    grads = [(100 * rng.standard_normal(p.shape)).astype("float32") for p in params]
    norm = math.sqrt(sum(float((g.astype("float64") ** 2).sum()) for g in grads))
    assert norm > 1000
    before = [p.numpy().copy() for p in params]
    sum((p * paddle.to_tensor(g)).sum() for p, g in zip(params, grads, strict=True)).backward()
    session.optimizer.step()
    moves = [p.numpy() - b for p, b in zip(params, before, strict=True)]
    for move, g in zip(moves, grads, strict=True):  # moves near 1e-3, parameters rounded ~6e-8
        np.testing.assert_allclose(move, -0.5 * g * 2.0 / norm, atol=1e-7)
    assert math.sqrt(sum(float((m**2).sum()) for m in moves)) == pytest.approx(1.0, rel=1e-4)


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
    """It trains, and its run directory's recipe records every option as given."""
    options = [
        "training.optimizer.decay=weights",
        "training.clip_grad_norm=5.0",
        "training.loss.label_smoothing=0.1",
        f"training.loss.class_weights={CLASS_WEIGHTS.tolist()}",
        "training.schedule.warmup_epochs=0",
        "training.schedule.warmup_steps=3",
        "model.replace[0].residual_norm=post_zero",
        "model.replace[1].hybrid=true",
    ]
    recipe = load_recipe(QUICKSTART, tiny(tmp_path, *options))
    result = train(recipe, TrainOptions(quiet=True, epochs=1))
    assert result.exit_code == 0, result.message
    resolved = load_recipe(result.run_dir / "recipe.yaml")
    training = resolved.training
    assert (training.optimizer.decay, training.clip_grad_norm) == ("weights", 5.0)
    assert training.loss.label_smoothing == 0.1
    assert training.loss.class_weights == CLASS_WEIGHTS.tolist()
    assert (training.schedule.warmup_epochs, training.schedule.warmup_steps) == (0, 3)
    assert resolved.model.replace[0].residual_norm == "post_zero"
    assert resolved.model.replace[1].hybrid is True


def test_a_segmentation_run_with_dice(tmp_path: Path) -> None:
    overrides = [
        f"output.runs_dir={tmp_path}",
        "data.train_size=32",
        "data.val_size=16",
        "data.num_workers=0",
        "training.loss.dice_weight=0.6",
        "training.loss.class_weights=[0.2,1,1,1,1,1,1,1,1,1,1]",
    ]
    recipe = load_recipe(UNET, overrides)
    result = train(recipe, TrainOptions(quiet=True, epochs=1, limit_batches=2))
    assert (result.exit_code, result.task) == (0, "segmentation"), result.message
