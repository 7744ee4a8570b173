"""A trained run's model: its recipe, its weights, and what its input and output mean.

Everything comes from the run directory: ``recipe.yaml`` builds the model, a checkpoint
gives the weights, ``run.json`` the class names and input preparation. Runs written before
``run.json`` existed get those rebuilt from the training data instead, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paddle

from ..data import Normalization, SampleTransform, build_datasets
from ..models import build_model
from ..models.state import load_state
from ..models.user_networks import source_change
from ..recipe import Recipe, load_recipe
from ..recipe.schema import Transforms
from ..runs import Run, RunError, open_run
from ..runs.info import read_info
from ..runs.layout import RECIPE, inside


class ExportError(RunError):
    """A run, checkpoint or export that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class ModelInfo:
    """What turns image files into model input and logits into names."""

    image_size: int
    normalization: Normalization  # applied to pixels in [0, 1]; identity when not normalised
    classes: tuple[str, ...]
    category_ids: tuple[int, ...] | None = None  # detection: each class's id in the data

    def transform(self) -> SampleTransform:
        """The validation transform: uint8 [H, W, 3] -> float32 [3, S, S]."""
        return SampleTransform(self.image_size, Transforms(), self.normalization, augment=False)


@dataclass(frozen=True)
class TrainedRun:
    """A run directory read for its model, with its validated recipe."""

    run: Run
    recipe: Recipe

    @property
    def path(self) -> Path:
        return self.run.path

    def model_info(self) -> tuple[ModelInfo, str | None]:
        """``(info, note)``: from run.json, or for an older run rebuilt from its data (which
        must still be at ``data.path`` for cifar10 and folders), with a note saying so. A
        run.json that cannot be read is an error, not a reason to guess."""
        info = read_info(self.path)
        if info is not None:
            normalization = Normalization(info.mean, info.std)
            return ModelInfo(info.image_size, normalization, info.classes, info.category_ids), None
        data = self.recipe.data.model_copy(update={"train_size": 1, "val_size": 1})
        _, val, classes = build_datasets(data, self.recipe.training.seed)
        if len(classes) != self.recipe.model.num_classes:
            raise ExportError(
                f"{self.path}: the data now has {len(classes)} classes but the model was "
                f"trained for {self.recipe.model.num_classes}"
            )
        note = (
            f"{self.path} has no run.json (an older run): classes and normalisation were "
            "read from its data"
        )
        return ModelInfo(data.image_size, val.transform.normalization, tuple(classes)), note

    def load_model(self, which: str = "best") -> tuple[paddle.nn.Layer, Path, str | None]:
        """``(model, weights file, note)``: the recipe's model with checkpoint ``which``
        (``best`` falls back to ``last``, with a note), in eval mode."""
        arrays, file, note = self.run.weights(which)
        section = self.recipe.model.model_copy(update={"weights": None})  # the checkpoint has all
        model, _ = build_model(section, self.recipe.data.image_size, self.recipe.task)
        info = read_info(self.path)
        changed = source_change(info.backbone_source if info is not None else None)
        note = "; ".join(text for text in (note, changed) if text) or None
        load_state(model, arrays, file)
        model.eval()
        return model, file, note


def open_trained_run(path: str | Path, predictable: bool = False) -> TrainedRun:
    """The run in ``path`` with its recipe. RunError when it is not a run directory (or,
    with ``predictable``, when it is a segmentation run, which predict does not handle);
    RecipeError when its recipe does not load."""
    run = open_run(path)
    recipe = load_recipe(inside(run.path, RECIPE))
    if predictable and recipe.task == "segmentation":
        raise ExportError(
            f"{run.path}: a {recipe.task} run; predict handles classification and detection runs"
        )
    return TrainedRun(run, recipe)
