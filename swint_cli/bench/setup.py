"""From ``swint bench``'s options to what it measures: the resolved options, the models, the
notes that say what was chosen, and the report's ``env.json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..environment import describe_session, resolve_device
from ..errors import UserError
from ..files import write_json
from ..recipe import RecipeError, load_recipe
from ..runs.layout import ENV
from ..train.session import choose_precision
from .plan import GPU_BATCH, BenchOptions, default_batch, layer_specs, model_specs, resolve_model


@dataclass(frozen=True, kw_only=True)
class BenchSetup:
    """One ``swint bench``: its options, the ``(name, recipe file)`` of each model to time,
    notes for the user on what was chosen for them, and the CPU settings the workers get."""

    options: BenchOptions
    models: list[tuple[str, Path]]
    notes: list[str]
    runtime: dict[str, object]

    def specs(self) -> list[dict[str, object]]:
        """Every measurement: the layers, then the models."""
        return layer_specs(self.options) + model_specs(self.options, self.models)


def _model_name(entry: str) -> str:
    return Path(entry).stem if entry.endswith((".yaml", ".yml")) else entry


def set_up_bench(
    *,
    resolution: int,
    batch_size: int | None,
    channels: tuple[int, int],
    heads: int | None,
    window_size: int,
    device: str,
    amp: bool,
    repeat: int,
    warmup: int,
    models: Sequence[str],
    runtime: Mapping[str, object],
    precisions: Sequence[str] = ("fp32",),
    recompute: bool = False,
    in_backward: bool = False,
    calls: bool = False,
    profile: int = 0,
) -> BenchSetup:
    """Resolve the command line's choices: the device (``auto``, ``cpu``, ``gpu``), the batch
    when none is given (:func:`~.plan.default_batch`, noted when it is small), AMP (GPU only,
    noted when ignored), bf16 (CPU only, and only where it can run: noted and measured as
    fp32 otherwise) and each ``models`` entry's recipe file; ``runtime`` is what
    ``tune_cpu`` applied (its ``threads`` and ``malloc_tuned`` go to the workers).

    Raises:
        UserError: a GPU asked of a Paddle that sees none; ``in_backward`` with GPU AMP or
            for a model whose recipe clips gradients. RecipeError for a model entry.
    """
    resolved = resolve_device(device)
    chosen = [(_model_name(entry), resolve_model(entry, resolution)) for entry in models]
    if in_backward and amp and resolved == "gpu":
        raise UserError("--update-in-backward: not with --amp (loss scaling needs every gradient)")
    for _, path in chosen if in_backward else []:
        try:  # the recipe's own check of what the update in backward cannot go with
            load_recipe(path, ["training.optimizer.in_backward=true"])
        except RecipeError as exc:
            raise UserError(f"--update-in-backward: {exc}") from None
    notes = []
    if batch_size is None:
        batch_size = default_batch(resolved, resolution)
        if resolved == "cpu" and batch_size < GPU_BATCH:
            notes.append(f"batch {batch_size} chosen for CPU at {resolution}; use --batch-size")
    if amp and resolved == "cpu":
        notes.append("--amp is ignored on CPU")
    if calls and resolved == "gpu":
        notes.append("--calls times the CPU's compiled kernels: none run on the GPU")
    if "bf16" in precisions:
        _, note = choose_precision("bf16", resolved)
        if note is not None:
            notes.append(note.replace("training.precision", "--precision"))
    threads = runtime.get("threads")
    options = BenchOptions(
        resolution=resolution,
        batch_size=batch_size,
        in_channels=channels[0],
        out_channels=channels[1],
        heads=heads,
        window_size=window_size,
        device=resolved,
        amp=amp and resolved == "gpu",
        repeat=repeat,
        warmup=warmup,
        threads=threads if isinstance(threads, int) else None,
        malloc=bool(runtime.get("malloc_tuned", True)),
        precisions=tuple(precisions),
        recompute=recompute,
        in_backward=in_backward,
        calls=calls,
        profile=profile,
    )
    return BenchSetup(options=options, models=chosen, notes=notes, runtime=dict(runtime))


def write_environment(folder: Path, setup: BenchSetup) -> dict[str, object]:
    """Write ``folder``'s env.json atomically and return it: Paddle and the machine, the CPU
    settings the workers inherit, the options and the models' recipe files. Raises OSError."""
    environment = {
        **describe_session(setup.options.device, setup.runtime),
        "options": {**asdict(setup.options), "precisions": list(setup.options.precisions)},
        "models": {name: str(path) for name, path in setup.models},
    }
    write_json(folder / ENV, environment)
    return environment
