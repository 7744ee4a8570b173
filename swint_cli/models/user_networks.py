"""Networks of the user's own in a recipe: ``model.backbone: path/to/file.py:factory`` or
``package.module:factory``, or a name a package registers in the ``swint.backbones``
entry-point group.

The factory is called as ``factory(num_classes, **model.args)`` and must return a
``paddle.nn.Layer`` mapping ``[N, 3, H, W]`` images to ``[N, num_classes]`` logits (or
``[N, num_classes, H, W]`` for segmentation): :func:`check_output` runs one forward pass to
see. A run records the factory and the sha256 of its source (:func:`factory_source`), so
that ``--resume`` and ``predict`` can say when that source changed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import paddle
from paddle import nn

from ..files import file_sha256
from ..recipe.names import FACTORY, is_own_network, registered_backbones
from .errors import ModelError


def _spec(backbone: str) -> tuple[str, str]:
    """``(source, name)`` of a factory backbone (a registered name resolved first)."""
    match = FACTORY.fullmatch(registered_backbones().get(backbone, backbone))
    if match is None:
        raise ModelError(f"model.backbone: {backbone!r} is not a module:factory")
    return match["source"], match["name"]


def _module(source: str) -> object:
    if not source.endswith(".py"):
        try:
            return importlib.import_module(source)
        except ImportError as exc:
            raise ModelError(f"model.backbone: cannot import {source} ({exc})") from None
    path = Path(source)
    if not path.is_file():
        raise ModelError(f"model.backbone: {path} not found")
    name = "swint_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:  # loaded once per process, as an import is
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as exc:  # the user's code may raise anything while it loads
        del sys.modules[name]
        failure = f"{type(exc).__name__}: {exc}"
        raise ModelError(f"model.backbone: {path} failed to load: {failure}") from None
    return module


def load_factory(backbone: str) -> Callable[..., nn.Layer]:
    """The factory a backbone names; ModelError for a missing file, module or name."""
    source, name = _spec(backbone)
    factory = getattr(_module(source), name, None)
    if not callable(factory):
        raise ModelError(f"model.backbone: {source} has no factory {name!r}")
    return factory


def check_output(model: nn.Layer, backbone: str, task: str, classes: int, size: int) -> None:
    """One forward pass of a ``[1, 3, size, size]`` batch; ModelError naming the backbone
    when its output is not ``[1, classes]`` (``[1, classes, size, size]`` for segmentation)."""
    expected = [1, classes, size, size] if task == "segmentation" else [1, classes]
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            output = model(paddle.zeros([1, 3, size, size]))
    except Exception as exc:  # the user's forward may raise anything
        raise ModelError(
            f"model.backbone: {backbone} failed on a [1, 3, {size}, {size}] batch: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    finally:
        if was_training:
            model.train()
    shape = list(output.shape) if isinstance(output, paddle.Tensor) else None
    if shape != expected:
        got = shape if shape is not None else type(output).__name__
        raise ModelError(
            f"model.backbone: {backbone} gives {got} for a [1, 3, {size}, {size}] batch; "
            f"a {task} model must give {expected} (model.num_classes: {classes})"
        )


def backbone_source(backbone: str) -> dict[str, str] | None:
    """For a network of the user's own, its factory and the sha256 of its source file, as
    a run records them; None for a built-in backbone."""
    if not is_own_network(backbone):
        return None
    return _factory_source(backbone)


def source_change(recorded: dict[str, str] | None) -> str | None:
    """A note when the source of a run's own network (``recorded`` in its run.json) differs
    from what it was when the run trained; None when it is the same, or built in."""
    if not recorded:
        return None
    now = _factory_source(recorded["factory"])
    if now["sha256"] == recorded.get("sha256"):
        return None
    then, changed = recorded.get("sha256", "")[:12], now["sha256"][:12]
    return f"{now['file']} changed since the run trained (sha256 {then} then, {changed} now)"


def _factory_source(backbone: str) -> dict[str, str]:
    """The factory and the sha256 of its source file."""
    source, name = _spec(backbone)
    module = _module(source)
    file = Path(getattr(module, "__file__", "") or source)
    digest = file_sha256(file) if file.is_file() else ""
    return {"factory": f"{source}:{name}", "file": str(file), "sha256": digest}
