"""``model.weights``: a state dict from where users have it, loaded into the backbone, with
a report of what was loaded, what starts fresh and why.

The file is a ``.safetensors`` file, a ``paddle.save`` pickle such as a ``.pdparams`` (read
by the restricted unpickler: plain data only), a PyTorch checkpoint (``.pth``, ``.pt``: read
without torch, :mod:`swint_cli.files.torch_checkpoint`), or a run directory (its best
weights). Other frameworks' names and layouts are converted (:mod:`.weight_formats`:
detected, or ``model.weights_format``). Weights of a plain network load before the surgery
(the swapped slots start fresh); a swint run's own weights, SwinT layers and all, load after
it (:func:`~.surgery.apply_model_section`).

Where shapes differ on purpose the model keeps its own initialisation, and the report says
why: the head (``fc``) for another class count or head; parameters matching
``model.weights_skip`` globs. Relative-position bias tables for another window are resized
(:mod:`.relative_position_tables`). Anything else that does not fit is a
:class:`~.errors.ModelError` naming the file and the first tensor (both shapes), or with
``model.weights_strict: false`` a line of the report.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from paddle import nn

from ..files import ArrayFileError, file_sha256, read_arrays
from ..runs.checkpoint_files import find_weights
from ..runs.layout import RunError
from .backbones import HEAD
from .errors import ModelError
from .relative_position_tables import resize_table, table_side
from .state import cast_like, kind_problem, shape_of
from .weight_formats import WeightFormatError, convert, detect_format

TABLE = "relative_position_bias_table"
LEFT_FRESH = ("head", "skipped", "swapped")  # on purpose, never a load error


@dataclass
class WeightsReport:
    """What :func:`load_weights` did. ``fresh`` maps each model tensor left at its
    initialisation to why (``head``, ``skipped``, ``not in the file``, ``shape ...``, and after
    the surgery ``swapped``); ``unexpected`` lists the file's tensors the model has no place
    for (``weights_strict: false`` only)."""

    file: str
    sha256: str
    format: str
    loaded: int
    resized: list[str] = field(default_factory=list)
    fresh: dict[str, str] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    note: str | None = None

    def swapped(self, gone: Sequence[str]) -> WeightsReport:
        """The report after the surgery replaced the slots that held the tensors ``gone``:
        those were loaded into convolutions that are no longer there, and the SwinT in their
        place starts fresh."""
        kept = [key for key in gone if key not in self.fresh]
        fresh = {**self.fresh, **{key: "swapped" for key in kept}}
        return replace(self, loaded=self.loaded - len(kept), fresh=fresh)

    def plus(self, other: WeightsReport) -> WeightsReport:
        """This report and ``other``'s, of another part of the same file, as one."""
        return replace(
            self,
            loaded=self.loaded + other.loaded,
            resized=[*self.resized, *other.resized],
            fresh={**self.fresh, **other.fresh},
            unexpected=[*self.unexpected, *other.unexpected],
        )

    def to_json(self) -> dict[str, object]:
        """The report as ``weights.json`` holds it."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The report in words: the file and what became of its tensors."""
        lines = [f"weights: {self.file} ({self.format}, sha256 {self.sha256[:12]})"]
        if self.note:
            lines.append(f"  {self.note}")
        lines.append(
            f"  loaded {self.loaded} tensors"
            + (f", {len(self.resized)} resized" if self.resized else "")
        )
        reasons: dict[str, list[str]] = {}
        for key, why in self.fresh.items():
            reasons.setdefault(why, []).append(key)
        lines += [f"  fresh ({why}): {_first_three(keys)}" for why, keys in reasons.items()]
        if self.unexpected:
            lines.append(f"  not used from the file: {_first_three(self.unexpected)}")
        return lines


def _first_three(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")


def _file_of(path: Path) -> tuple[Path, str | None]:
    """The weights file ``path`` names: itself, or a run directory's best weights."""
    if path.is_dir():
        try:
            return find_weights(path, "best")
        except RunError as exc:
            raise ModelError(f"model.weights: {exc}") from None
    if not path.is_file():
        raise ModelError(f"weights file {path} not found")
    return path, None


def _resized_tables(
    state: dict[str, np.ndarray], own: Mapping[str, object]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """``state`` with each relative-position bias table resized to the model's window where
    the two differ, and the keys resized."""
    resized, keys = dict(state), []
    for key, value in state.items():
        if key.endswith(TABLE) and key in own and shape_of(own[key]) != shape_of(value):
            rows, heads = shape_of(own[key])
            tables = table_side(rows) and value.ndim == 2 and table_side(value.shape[0])
            if tables and value.shape[1] == heads:
                resized[key], keys = resize_table(value, rows), [*keys, key]
    return resized, keys


def _why_fresh(
    key: str,
    value: object,
    state: Mapping[str, np.ndarray],
    skip: Sequence[str],
    heads: Sequence[str],
    swapped: Sequence[str],
) -> str | None:
    """Why model tensor ``key`` is not loaded from ``state``, or None when it is; ``skip``
    globs match the key as the report names it (``prefix`` included)."""
    if any(fnmatch.fnmatchcase(key, pattern) for pattern in skip):
        return "skipped"
    if key in state and shape_of(state[key]) == shape_of(value):
        return kind_problem(key, state[key], value)
    if under(key, heads):
        return "head"
    if key not in state:
        return "swapped" if under(key, swapped) else "not in the file"
    return f"shape {shape_of(state[key])} in the file, {shape_of(value)} in the model"


def under(key: str, paths: Sequence[str]) -> bool:
    """Whether ``key`` names a tensor of one of the sublayers ``paths``."""
    return any(key.startswith(path + ".") for path in paths)


def _problem(key: str, why: str) -> str:
    """A tensor that does not fit, in the load error's words."""
    if why == "not in the file":
        return f"the file lacks {key}"
    return f"{key} has {why}" if why.startswith("shape ") else why


@dataclass(frozen=True)
class WeightsFile:
    """A weights file read and converted to Paddle's names and layouts (:func:`read_weights`):
    ``state`` maps tensor names to arrays; ``note`` says which file of a run directory."""

    file: Path
    sha256: str
    format: str
    state: dict[str, np.ndarray]
    note: str | None = None

    def part(self, prefix: str) -> WeightsFile:
        """The tensors named ``prefix...``, without the prefix (``backbone.`` of a detector)."""
        inner = {key[len(prefix) :]: v for key, v in self.state.items() if key.startswith(prefix)}
        return replace(self, state=inner)

    def has_prefix(self, prefix: str) -> bool:
        """Whether some tensor is named ``prefix...``."""
        return any(key.startswith(prefix) for key in self.state)


def read_weights(path: str | Path, weights_format: str | None = None) -> WeightsFile:
    """The weights ``path`` names (a file or a run directory's best), read and converted from
    ``weights_format`` (None: detected from the names). ModelError names the file for a
    missing, unreadable or refused file, or a conversion that cannot map it."""
    file, note = _file_of(Path(path))
    try:
        state, _ = read_arrays(file)
    except ArrayFileError as exc:
        raise ModelError(f"weights file {exc}") from None
    chosen = weights_format or detect_format(state)
    try:
        state = convert(state, chosen)
    except WeightFormatError as exc:
        raise ModelError(f"weights file {file}: {exc}") from None
    return WeightsFile(file, file_sha256(file), chosen, state, note)


def load_state(
    model: nn.Layer,
    weights: WeightsFile,
    skip: Sequence[str] = (),
    strict: bool = True,
    *,
    head: str | None = HEAD,
    prefix: str = "",
    swapped: Sequence[str] = (),
) -> WeightsReport:
    """Load ``weights`` into ``model`` as the module docstring says, and report it.

    ``head`` is the sublayer (if any) that keeps its initialisation for another class count;
    ``prefix`` is ``model``'s place in the file's names (``pyramid.`` in a detector): the
    report, ``skip`` globs and errors name tensors with it. ``swapped`` are sublayers the
    surgery replaced: tensors under them that the file lacks start fresh (``swapped``), and
    the file's tensors under them that the model lacks are not used. ModelError names the
    file and the first tensor that does not fit (``strict``)."""
    own = {prefix + key: value for key, value in model.state_dict().items()}
    heads = [prefix + head] if head else []
    swapped = [prefix + path for path in swapped]
    state = {prefix + key: value for key, value in weights.state.items()}
    state, resized = _resized_tables(state, own)
    fresh = {
        key: why
        for key, value in own.items()
        if (why := _why_fresh(key, value, state, skip, heads, swapped))
    }
    unexpected = [key for key in state if key not in own and not under(key, [*heads, *swapped])]
    problems = [_problem(key, why) for key, why in fresh.items() if why not in LEFT_FRESH]
    problems += [f"the model has no {key}" for key in unexpected]
    if problems and strict:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelError(
            f"weights file {weights.file} does not fit the model: {problems[0]}{more} "
            "(model.weights_strict: false loads what fits)"
        )
    # Tensors left fresh get their current value, so Paddle does not warn about them.
    model.set_state_dict(
        {
            key[len(prefix) :]: value if key in fresh else cast_like(state[key], value)
            for key, value in own.items()
        }
    )
    return WeightsReport(
        file=str(weights.file),
        sha256=weights.sha256,
        format=weights.format,
        loaded=len(own) - len(fresh),
        resized=resized,
        fresh=fresh,
        unexpected=unexpected,
        note=weights.note,
    )


def load_weights(
    model: nn.Layer,
    path: str | Path,
    weights_format: str | None = None,
    skip: Sequence[str] = (),
    strict: bool = True,
) -> WeightsReport:
    """Load the weights ``path`` names into ``model`` (the plain backbone): :func:`read_weights`
    then :func:`load_state`."""
    return load_state(model, read_weights(path, weights_format), skip, strict)
