"""What ``swint bench`` measures: options, defaults, and one JSON spec per measurement.

A spec is a flat dict, the worker's input and the identity part of a bench.csv row:
``level`` (layer or model), ``name``, ``downsample``, ``batch_size``, ``resolution``,
channels/heads/window (layers) or ``recipe`` (models), ``device``, ``amp``, ``precision``
(of the matrix products), ``recompute`` (SwinT activations), ``in_backward`` (models: the
optimizer's update inside backward), ``repeat``, ``warmup``,
``threads`` and ``malloc`` (the parent's CPU settings), ``calls`` and ``profile`` (where the
training step goes: :mod:`.breakdown`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..nn.precision import PRECISIONS
from ..recipe import RecipeError, load_recipe

GPU_BATCH = 8
CPU_TOKENS = 8 * 56 * 56  # the CPU default batch keeps B*H*W at or under batch 8 at 56x56
RECIPE_DIRS = (Path("recipes"), Path(__file__).resolve().parents[2] / "recipes")


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """The settings every measurement shares; ``device`` is resolved (cpu or gpu)."""

    resolution: int
    batch_size: int
    in_channels: int
    out_channels: int
    heads: int | None
    window_size: int
    device: str
    amp: bool
    repeat: int
    warmup: int
    threads: int | None = None
    malloc: bool = True
    precisions: tuple[str, ...] = ("fp32",)  # each SwinT and model is measured in each
    recompute: bool = False  # also measure each SwinT and model with recompute
    in_backward: bool = False  # also measure each model updating inside backward
    calls: bool = False  # time each compiled call of a training step
    profile: int = 0  # training steps in Paddle's operator table (0: none)


def parse_channels(text: str) -> tuple[int, int]:
    """``"96:192"`` -> ``(96, 192)``; ``"96"`` -> ``(96, 96)``. ValueError if malformed."""
    parts = text.split(":")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise ValueError(f"expected IN:OUT positive channel counts like 96:96, got {text!r}")
    return values[0], values[-1]


def default_batch(device: str, resolution: int) -> int:
    """8 on a GPU; on a CPU at most 8, fewer above 56x56 (1 at 224x224) to stay quick."""
    if device == "gpu":
        return GPU_BATCH
    return max(1, min(GPU_BATCH, CPU_TOKENS // (resolution * resolution)))


def parse_precisions(text: str) -> tuple[str, ...]:
    """``"fp32,bf16"`` -> ``("fp32", "bf16")``; ValueError for anything else."""
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not chosen or any(p not in PRECISIONS for p in chosen):
        raise ValueError(f"expected fp32, bf16 or fp32,bf16, got {text!r}")
    return chosen


def variants(options: BenchOptions) -> list[tuple[str, bool]]:
    """The ``(precision, recompute)`` settings each SwinT and model is measured with."""
    recompute = (False, True) if options.recompute else (False,)
    return [(precision, flag) for precision in options.precisions for flag in recompute]


def variant_label(spec: dict) -> str:
    """How a measurement's settings are shown: ``""`` for fp32 without recompute nor the
    update in backward, else e.g. ``"bf16"``, ``"recompute"``, ``"bf16 recompute"`` or
    ``"recompute, update in backward"``."""
    words = [] if spec.get("precision", "fp32") == "fp32" else [str(spec["precision"])]
    words += ["recompute"] if spec.get("recompute") else []
    label = " ".join(words)
    if spec.get("in_backward"):
        return f"{label}, update in backward" if label else "update in backward"
    return label


def _common(options: BenchOptions) -> dict[str, object]:
    return {
        "batch_size": options.batch_size,
        "resolution": options.resolution,
        "device": options.device,
        "amp": options.amp,
        "repeat": options.repeat,
        "warmup": options.warmup,
        "threads": options.threads,
        "malloc": options.malloc,
        "calls": options.calls,
        "profile": options.profile,
    }


def layer_specs(options: BenchOptions) -> list[dict[str, object]]:
    """SwinT and Conv2D(3x3, padding 1), each without and with downsampling (stride 2): the
    SwinT in each of :func:`variants`, the Conv2D (Paddle's own convolution) once."""
    specs = []
    for downsample in (False, True):
        chosen = [("SwinT", *variant) for variant in variants(options)]
        for name, precision, recompute in [*chosen, ("Conv2D", "fp32", False)]:
            specs.append(
                {
                    "level": "layer",
                    "name": name,
                    "downsample": downsample,
                    "in_channels": options.in_channels,
                    "out_channels": options.out_channels,
                    "heads": options.heads,
                    "window_size": options.window_size,
                    "precision": precision,
                    "recompute": recompute,
                    **_common(options),
                }
            )
    return specs


def resolve_model(name: str, resolution: int, search: tuple[Path, ...] = RECIPE_DIRS) -> Path:
    """A recipe file for ``--models`` entry ``name``: a path to a YAML file, or a name looked
    up in ``search`` as ``NAME.yaml``, ``NAME-<resolution>.yaml``, then ``NAME-*.yaml``.

    Raises:
        RecipeError: no such file or name (listing the names found), or an invalid recipe.
    """
    path = Path(name)
    if name.endswith((".yaml", ".yml")) or path.is_file():
        load_recipe(path)  # fail early, in the parent, on a missing or invalid recipe
        return path
    for folder in dict.fromkeys(search):
        for candidate in (folder / f"{name}.yaml", folder / f"{name}-{resolution}.yaml"):
            if candidate.is_file():
                load_recipe(candidate)
                return candidate
        others = sorted(folder.glob(f"{name}-*.yaml"))
        if others:
            load_recipe(others[0])
            return others[0]
    known = sorted({p.stem for folder in search for p in folder.glob("*.yaml")})
    listing = ", ".join(known) if known else "none found"
    raise RecipeError(f"--models: no recipe for {name!r} (recipes: {listing}; or a YAML path)")


def model_specs(options: BenchOptions, models: list[tuple[str, Path]]) -> list[dict[str, object]]:
    """One spec per ``(entry, recipe path)`` of :func:`resolve_model`, at the options'
    resolution and batch, named after its recipe file: ``--models resnet50`` at resolution 64
    (no ``resnet50.yaml`` nor ``resnet50-64.yaml``) is measured, announced and reported as
    ``resnet50-224``, the recipe it found. Each model is measured in each of
    :func:`variants`, those with recompute only where the recipe puts SwinTs in, and with
    ``options.in_backward`` each of those again with the optimizer's update in backward."""
    return [
        {
            "level": "model",
            "name": Path(recipe).stem,
            "recipe": str(recipe),
            "precision": precision,
            "recompute": recompute,
            "in_backward": in_backward,
            **_common(options),
        }
        for _, recipe in models
        for precision, recompute in variants(options)
        if not recompute or load_recipe(recipe).model.replace  # recompute concerns SwinTs
        for in_backward in ((False, True) if options.in_backward else (False,))
    ]
