"""The recipe schema: one YAML file describes model, data, training and output.

Every section rejects unknown keys. Defaults are what a user gets when a key is left out;
the resolved recipe (defaults filled in) is written to each run directory. The names of
backbones, heads, residual norm placements and precisions come from :mod:`.names`, the lists
the models' registry and the layer library are held to, so a recipe accepts exactly what the
model can build, and reading one loads no Paddle.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic_core import PydanticCustomError

from ..layer_config import SwinTConfig
from .names import (
    HEADS,
    PRECISIONS,
    WEIGHT_FORMATS,
    backbone_names,
    is_own_network,
    registered_backbones,
)

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Rate = Annotated[float, Field(ge=0, lt=1)]

BACKBONE_NAMES = backbone_names()  # every backbone the models' registry builds
CLASSIFICATION_DATASETS = ("shapes", "cifar10", "image_folder")
SEGMENTATION_DATASETS = ("segmentation_shapes", "segmentation_folder")
DETECTION_DATASETS = ("detection_shapes", "cifar10_canvas", "coco")
TASK_DATASETS = {
    "classification": CLASSIFICATION_DATASETS,
    "segmentation": SEGMENTATION_DATASETS,
    "detection": DETECTION_DATASETS,
}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _swint_fields() -> dict[str, tuple[object, object]]:
    """:class:`SwinTConfig`'s fields as pydantic fields, with the bounds in their metadata:
    the replace rule accepts exactly what the layer is built from."""
    hints = get_type_hints(SwinTConfig)
    found: dict[str, tuple[object, object]] = {}
    for spec in fields(SwinTConfig):
        bounds = spec.metadata
        kind = Literal[bounds["choices"]] if "choices" in bounds else hints[spec.name]  # type: ignore[valid-type]
        limits = {key: bounds[key] for key in ("gt", "ge", "lt") if key in bounds}
        found[spec.name] = (kind, Field(spec.default, **limits))
    return found


_ReplaceRuleFields = create_model(  # slots first, as recipes list them
    "_ReplaceRuleFields",
    __base__=Section,
    slots=(list[str], Field(min_length=1)),
    **_swint_fields(),  # type: ignore[arg-type]
    hybrid=(bool, False),
)


class ReplaceRule(_ReplaceRuleFields):  # type: ignore[misc, valid-type]
    """Conv2D slots (sublayer paths, globs allowed) to become SwinT, its settings (every
    field of :class:`SwinTConfig`), and ``hybrid``: keep the convolution beside it."""

    @field_validator("slots", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    def swint_config(self) -> SwinTConfig:
        """The SwinT this rule builds in each of its slots."""
        return SwinTConfig(**{spec.name: getattr(self, spec.name) for spec in fields(SwinTConfig)})


class Detector(Section):
    """FCOS over the backbone's ``model.features`` (torchvision's fcos_resnet50_fpn defaults,
    but for the score threshold, 0.05 as COCO evaluation takes)."""

    channels: PositiveInt = 256  # of the FPN and the head
    extra_levels: Annotated[int, Field(ge=0)] = 2  # stride-2 levels after the last map (P6, P7)
    head_depth: PositiveInt = 4  # convolutions per head tower
    center_sampling_radius: PositiveFloat = 1.5  # in strides
    score_threshold: Annotated[float, Field(ge=0, lt=1)] = 0.05
    nms_threshold: Annotated[float, Field(gt=0, le=1)] = 0.6
    candidates: PositiveInt = 1000  # (location, class) pairs kept for NMS
    max_detections: PositiveInt = 100  # per image


class ModelSection(Section):
    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        if value in BACKBONE_NAMES or is_own_network(value):
            return value
        names = ", ".join(repr(name) for name in [*BACKBONE_NAMES, *registered_backbones()])
        raise PydanticCustomError(
            "backbone",
            f"expected one of {names}, or a network of your own as "
            "package.module:factory or path/to/file.py:factory",
        )

    # a built-in name, a registered one, or a factory of your own (module:factory, file.py:factory)
    backbone: str = "resnet50"
    num_classes: PositiveInt = 10
    head: Literal[HEADS] = "linear"  # type: ignore[valid-type]
    patch_size: PositiveInt | None = None  # swin_t/s/b: patch embedding side (default 4)
    args: dict[str, Any] = Field(default_factory=dict)  # the backbone factory's keywords
    weights: str | None = None  # a file or a run directory (its best weights)
    weights_format: Literal[WEIGHT_FORMATS] | None = None  # type: ignore[valid-type]  # None: detected
    weights_skip: list[str] = Field(default_factory=list)  # globs of tensors left fresh
    weights_strict: bool = True  # false: tensors that do not fit are reported, not an error
    replace: list[ReplaceRule] = Field(default_factory=list)
    # detection: the backbone sublayers whose outputs feed the FPN, finest first (None: the
    # backbone's default, for the built-in ones)
    features: list[str] | None = Field(default=None, min_length=1)
    detector: Detector = Field(default_factory=Detector)


class Transforms(Section):
    random_crop: bool = False
    crop_padding: Annotated[int, Field(ge=0)] = 4
    horizontal_flip: bool = False
    normalize: bool = True


class DataSection(Section):
    dataset: Literal[CLASSIFICATION_DATASETS + SEGMENTATION_DATASETS + DETECTION_DATASETS] = (
        "shapes"  # type: ignore[valid-type]
    )
    path: str | None = None
    image_size: PositiveInt = 32
    num_workers: Annotated[int, Field(ge=0)] = 2
    transforms: Transforms = Field(default_factory=Transforms)
    train_size: PositiveInt | None = None
    val_size: PositiveInt | None = None
    # train on a subset of the classes (names or indices), relabelled 0..k-1 in this order
    classes: list[Annotated[int, Field(ge=0)] | str] | None = Field(default=None, min_length=1)
    # dataset coco: image folders and COCO annotation files
    train_images: str | None = None
    train_annotations: str | None = None
    val_images: str | None = None
    val_annotations: str | None = None


class ParamGroup(Section):
    """Parameters that learn at their own rate: ``params`` a glob over parameter names (``*``
    also matches dots) or ``@swapped`` (every parameter of the SwinT slots the recipe swaps
    in); ``lr_mult`` times the base learning rate; ``weight_decay`` their own (None: the
    optimizer's)."""

    params: str
    lr_mult: PositiveFloat = 1.0
    weight_decay: Annotated[float, Field(ge=0)] | None = None


class Optimizer(Section):
    name: Literal["momentum", "sgd", "adamw"] = "momentum"
    learning_rate: PositiveFloat = 0.01
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    # all: every parameter decays (the article). weights: not the 1-D parameters (norms,
    # biases, layer-scale and hybrid gains) nor the relative-position bias tables, as the
    # official Swin's set_weight_decay.
    decay: Literal["all", "weights"] = "all"
    # true: update each parameter inside backward as soon as its gradient is complete, and
    # free that gradient (less memory, the same updates); not with clip_grad_norm, GPU AMP
    # or data-parallel training (swint_cli.train.update_in_backward)
    in_backward: bool = False
    # parameters with their own learning-rate multiplier or weight decay; a parameter takes
    # the first group it matches
    groups: list[ParamGroup] = Field(default_factory=list)


class Schedule(Section):
    name: Literal["constant", "step", "cosine"] = "constant"
    warmup_epochs: Annotated[int, Field(ge=0)] = 0
    warmup_steps: Annotated[int, Field(ge=0)] = 0  # the same counted in batches
    step_size: PositiveInt = 30
    gamma: PositiveFloat = 0.1


class Loss(Section):
    """The training loss: cross-entropy, optionally smoothed and class-weighted, and for
    segmentation optionally mixed with soft Dice over the foreground classes."""

    label_smoothing: Rate = 0.0
    class_weights: list[Annotated[float, Field(ge=0)]] | None = None  # one per class
    dice_weight: Annotated[float, Field(ge=0, le=1)] = 0.0  # (1 - w) CE + w Dice


class TrainingSection(Section):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    optimizer: Optimizer = Field(default_factory=Optimizer)
    schedule: Schedule = Field(default_factory=Schedule)
    loss: Loss = Field(default_factory=Loss)
    clip_grad_norm: PositiveFloat | None = None  # clip gradients to this global norm
    seed: Annotated[int, Field(ge=0)] = 0
    device: Literal["auto", "cpu", "gpu"] = "auto"
    amp: bool = False  # GPU mixed precision
    # CPU matrix products: fp32, or bf16 inputs with fp32 accumulation (swint_cli.nn.precision)
    precision: Literal[PRECISIONS] = "fp32"  # type: ignore[valid-type]
    limit_batches: PositiveInt | None = None
    warmup_batches: Annotated[int, Field(ge=0)] = 5
    freeze: list[str] = Field(default_factory=list)  # parameter globs: no gradient, no update


class OutputSection(Section):
    runs_dir: str = "runs"
    name: str = Field(default="run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
    # scalars for dashboards, in RUN/<logger>/
    loggers: list[Literal["tensorboard", "visualdl"]] = Field(default_factory=list)


class Recipe(Section):
    """A whole experiment."""

    task: Literal["classification", "segmentation", "detection"] = "classification"
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    training: TrainingSection = Field(default_factory=TrainingSection)
    output: OutputSection = Field(default_factory=OutputSection)


def inconsistency(recipe: Recipe) -> str | None:
    """Why keys of the recipe do not fit together (the backbone or data its ``task``, the
    loss the task and classes, the two warm-up lengths, the update in backward and
    clipping), or None when they do."""
    return _task_mismatch(recipe) or _training_mismatch(recipe)


def _training_mismatch(recipe: Recipe) -> str | None:
    training, loss = recipe.training, recipe.training.loss
    if training.schedule.warmup_epochs and training.schedule.warmup_steps:
        return "training.schedule: warmup_epochs and warmup_steps are both set; give one"
    if training.optimizer.in_backward and training.clip_grad_norm is not None:
        return (
            "training.optimizer.in_backward: cannot be combined with training.clip_grad_norm "
            "(clipping by the global norm needs every gradient at once); unset one"
        )
    if loss.dice_weight and recipe.task != "segmentation":
        return f"training.loss.dice_weight: applies to segmentation, not to {recipe.task}"
    classes = recipe.model.num_classes
    if loss.class_weights is not None:
        if len(loss.class_weights) != classes:
            return (
                f"training.loss.class_weights: expected {classes} numbers (one per class of "
                f"model.num_classes), got {len(loss.class_weights)}"
            )
        if not any(loss.class_weights):
            return "training.loss.class_weights: expected at least one weight above 0"
    return None


def _task_mismatch(recipe: Recipe) -> str | None:
    """Why the recipe's backbone, data or settings do not fit its ``task``, or None."""
    datasets = TASK_DATASETS[recipe.task]
    # a detector reads the feature maps of a classification backbone
    backbones = backbone_names("classification" if recipe.task == "detection" else recipe.task)
    if recipe.data.dataset not in datasets:
        return (
            f"data.dataset: task {recipe.task} needs one of {', '.join(datasets)}, "
            f"got {recipe.data.dataset!r}"
        )
    if recipe.model.backbone not in backbones and recipe.model.backbone in BACKBONE_NAMES:
        return (
            f"model.backbone: task {recipe.task} needs one of {', '.join(backbones)}, "
            f"got {recipe.model.backbone!r}"
        )
    return _detection_mismatch(recipe)


COCO_KEYS = ("train_images", "train_annotations", "val_images", "val_annotations")


def _detection_mismatch(recipe: Recipe) -> str | None:
    """Why detection settings appear outside detection, or settings of the other tasks in it."""
    model, data = recipe.model, recipe.data
    if data.dataset != "coco":
        for key in COCO_KEYS:
            if getattr(data, key) is not None:
                return f"data.{key}: applies to data.dataset coco, not {data.dataset}"
    if recipe.task != "detection":
        if model.features is not None:
            return f"model.features: applies to detection, not to {recipe.task}"
        if model.detector != Detector():
            return f"model.detector: applies to detection, not to {recipe.task}"
        return None
    loss = recipe.training.loss
    if loss.label_smoothing or loss.class_weights is not None:
        key = "label_smoothing" if loss.label_smoothing else "class_weights"
        return f"training.loss.{key}: applies to classification and segmentation, not detection"
    if model.head != "linear":
        return "model.head: a detector has its own head; leave model.head unset"
    if data.classes is not None:
        return "data.classes: applies to classification data, not detection"
    return None
