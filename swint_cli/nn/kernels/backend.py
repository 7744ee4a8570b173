"""Which CPU fast path runs, decided in one place.

The layer library computes with Paddle's ops everywhere, and on the CPU in dynamic mode
faster through these paths, each running on the ones it requires:

==================  =====================  ============================================
path                switch (``=0``: off)   what it is
==================  =====================  ============================================
``kernels``         ``SWINT_CPU_KERNELS``  the compiled C kernels (:mod:`.build`)
``onednn``          ``SWINT_ONEDNN``       oneDNN's float32 GEMMs, through the kernels
``onednn_conv``     ``SWINT_ONEDNN_CONV``  oneDNN's convolution primitives
``bf16``            (``precision: bf16``)  bfloat16 products: the CPU's bf16 instructions
                                           and oneDNN's bf16 GEMM
``custom_backward``                        :mod:`..functional`'s own backward passes
==================  =====================  ============================================

The switches are read once, when this module loads (their table, with defaults and
effects: :mod:`swint_cli.switches`). Each path is probed once, on first use: the compiler
and the kernels' build, oneDNN's library and its symbols, the CPU's bfloat16 flags. Where a
switched-on path cannot run, one line on stderr says why and what runs instead (bf16 is a
mode that is asked for: whoever asks says why it fell back).

Callers ask :func:`enabled`; ``swint env`` shows :func:`status`; tests and benchmarks switch
paths with :func:`override` and time the kernels' calls with :func:`intercept`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paddle

from ...runtime import cpu_info
from ...switches import switched_off
from .build import load_library

ONEDNN_LIBRARY = "libdnnl.so.3"
FLOAT32_GEMM = "dnnl_sgemm"
BFLOAT16_GEMM = "dnnl_gemm_bf16bf16f32"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 (AVX-512, AMX), ARM

# function name: (argument types, result type)
Signatures = dict[str, tuple[list[type], type | None]]


@dataclass(frozen=True)
class FastPath:
    switch: str | None  # the environment variable that turns it off with 0
    requires: tuple[str, ...]  # the paths it runs on
    what: str  # as notices and status name it
    fallback: str | None  # what runs instead, for the notice; None: no notice


PATHS = {
    "kernels": FastPath("SWINT_CPU_KERNELS", (), "compiled CPU kernels", "Paddle ops"),
    "onednn": FastPath("SWINT_ONEDNN", ("kernels",), "oneDNN GEMMs", "Paddle's matmul"),
    "onednn_conv": FastPath(
        "SWINT_ONEDNN_CONV", ("onednn",), "oneDNN convolutions", "Paddle's conv2d"
    ),
    "bf16": FastPath(None, ("onednn",), "bf16 products", None),
    "custom_backward": FastPath(None, (), "custom backward passes", None),
}

_ENVIRONMENT = {name: not (p.switch and switched_off(p.switch)) for name, p in PATHS.items()}
_on = dict(_ENVIRONMENT)  # the switches as they are now: the environment's, or overridden
_probed: dict[str, str | None] = {}  # path -> None when it runs here, else why not
_ready: dict[str, bool] = {}  # path -> switched on, its requirements ready and its probe passed
_libraries: dict[str, ctypes.CDLL | None] = {}  # "kernels" / "onednn" -> the loaded library
_in_use: dict[str, object] = {}  # the library callers get: the loaded one or an interceptor
_bound: set[tuple[str, int]] = set()  # (library, id of a signature table) already applied
_origins: dict[str, str] = {}  # library -> its file, or why it did not load


def cpu_bf16_flags() -> list[str]:
    """This CPU's bfloat16 instruction flags (from /proc/cpuinfo), empty when it has none."""
    flags = (cpu_info("flags") or cpu_info("Features")).split()
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def onednn_library_path() -> Path | None:
    """Where Paddle's wheel keeps its oneDNN, or None when Paddle has no ``libs/`` copy."""
    spec = importlib.util.find_spec("paddle")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "libs" / ONEDNN_LIBRARY
    return path if path.exists() else None


def _load(name: str) -> ctypes.CDLL | None:
    """The library ``name`` (``kernels``, built if needed, or ``onednn``), loaded once."""
    if name not in _libraries:
        if name == "kernels":
            loaded, origin = load_library()
        else:
            loaded, origin = _load_onednn()
        _libraries[name], _origins[name] = loaded, origin
        _in_use[name] = loaded
    return _libraries[name]


def _load_onednn() -> tuple[ctypes.CDLL | None, str]:
    path = onednn_library_path()
    if path is None:
        return None, f"no {ONEDNN_LIBRARY} in Paddle's libs/"
    try:
        return ctypes.CDLL(str(path)), str(path)
    except OSError as exc:
        return None, f"cannot load {path}: {exc}"


def _lacks(name: str, functions: list[str]) -> str | None:
    """Why library ``name`` cannot serve ``functions``, or None when it has them all."""
    loaded = _load(name)
    if loaded is None:
        return _origins[name]
    missing = [function for function in functions if not hasattr(loaded, function)]
    return f"{_origins[name]} has no {missing[0]}" if missing else None


def _probe(path: str) -> str | None:
    """Why ``path`` cannot run on this machine (its own needs, not its requirements')."""
    if path == "kernels":
        return _lacks("kernels", [])
    if path == "onednn":
        return _lacks("onednn", [FLOAT32_GEMM])
    if path == "onednn_conv":
        # the C API the convolutions call, declared beside them (that module imports this one)
        from .onednn_primitives import FUNCTIONS

        return _lacks("onednn", FUNCTIONS)
    if path == "bf16":
        if not cpu_bf16_flags():
            return f"this CPU has no bfloat16 instructions ({', '.join(BF16_CPU_FLAGS[:2])})"
        return _lacks("onednn", [BFLOAT16_GEMM])
    return None


def _state(path: str) -> tuple[str, str, str | None]:
    """``(kind, path, why)`` of ``path``: ``("on", path, None)``; ``("off", p, None)`` when
    ``p`` (``path`` or one it requires) is switched off; ``("unavailable", p, why)`` when
    ``p``'s probe failed. Probes on first use, with one notice on stderr where a
    switched-on path cannot run."""
    spec = PATHS[path]
    for required in spec.requires:
        state = _state(required)
        if state[0] != "on":
            return state
    if not _on[path]:
        return "off", path, None
    if path not in _probed:
        reason = _probed[path] = _probe(path)
        if reason is not None and spec.fallback is not None:
            sys.stderr.write(f"swint: {spec.what} unavailable ({reason}); using {spec.fallback}\n")
    reason = _probed[path]
    return ("on", path, None) if reason is None else ("unavailable", path, reason)


def unavailable(path: str) -> str | None:
    """Why ``path`` does not run here (switched off, a path it requires, or its probe), or
    None when it does: ``compiled CPU kernels off (SWINT_CPU_KERNELS=0)``, ``bf16 products
    unavailable (this CPU has no bfloat16 instructions ...)``."""
    kind, failed, reason = _state(path)
    spec = PATHS[failed]
    if kind == "off":
        by_environment = not _ENVIRONMENT[failed]
        return f"{spec.what} off" + (f" ({spec.switch}=0)" if by_environment else "")
    return None if kind == "on" else f"{spec.what} unavailable ({reason})"


@paddle.jit.not_to_static  # plain Python under to_static: False with tensors
def enabled(path: str, *tensors: paddle.Tensor) -> bool:
    """True when ``path`` runs here (see :func:`unavailable`) and, with ``tensors``, may
    compute with them: float32 CPU tensors in dynamic mode, with the CPU as the current
    device (where the paths allocate their outputs)."""
    ready = _ready.get(path)
    if ready is None:
        ready = _ready[path] = unavailable(path) is None
    if not ready or not tensors:
        return ready
    return (
        paddle.in_dynamic_mode()
        and all(t.dtype == paddle.float32 and t.place.is_cpu_place() for t in tensors)
        and paddle.device.get_device() == "cpu"
    )


def bind(loaded: ctypes.CDLL, signatures: Signatures) -> ctypes.CDLL:
    """``loaded`` with the ctypes argument and result types of ``signatures``' functions set
    (those it has); returns it."""
    for function, (argtypes, restype) in signatures.items():
        entry = getattr(loaded, function, None)
        if entry is not None:
            entry.argtypes, entry.restype = argtypes, restype
    return loaded


def library(name: str, signatures: Signatures | None = None) -> ctypes.CDLL:
    """The loaded library ``name`` (``kernels`` or ``onednn``), with the ctypes types of
    ``signatures``' functions set (once per table); for callers of an enabled path."""
    if signatures is not None and (name, id(signatures)) not in _bound:
        loaded = _load(name)
        assert loaded is not None, f"{name}: ask enabled() first"
        bind(loaded, signatures)
        _bound.add((name, id(signatures)))
    return _in_use[name]  # type: ignore[return-value]


@contextmanager
def override(**paths: bool) -> Iterator[None]:
    """Switch paths on or off within the block (``override(onednn=False)``), as their
    environment variables would for the process; restores them after."""
    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        raise ValueError(f"unknown fast path {unknown[0]!r}; expected one of {', '.join(PATHS)}")
    previous = dict(_on)
    _on.update(paths)
    _ready.clear()
    try:
        yield
    finally:
        _on.update(previous)
        _ready.clear()


@contextmanager
def intercept(name: str, wrap: Callable[[ctypes.CDLL], object]) -> Iterator[None]:
    """Within the block, callers of library ``name`` get ``wrap(library)`` (an object with
    the library's functions, such as one that times each call)."""
    loaded = _load(name)
    assert loaded is not None, f"{name}: ask enabled() first"
    _in_use[name] = wrap(loaded)
    try:
        yield
    finally:
        _in_use[name] = loaded


def probe_again() -> None:
    """Forget every probe and loaded library: the next use probes again (after the
    compiler, ``SWINT_CACHE_DIR`` or Paddle's libraries changed)."""
    for cache in (_probed, _ready, _libraries, _in_use, _origins):
        cache.clear()
    _bound.clear()


def _shown(path: str, detail: str) -> str:
    kind, _, reason = _state(path)
    return {"on": detail, "off": "off"}.get(kind, f"unavailable: {reason}")


def status() -> dict[str, str]:
    """What ``swint env`` shows of each path: in use (with its library), ``off``, or
    ``unavailable: why``."""
    onednn = _load("onednn") if _state("onednn")[0] == "on" else None
    gemms = [name for name in (BFLOAT16_GEMM, FLOAT32_GEMM) if hasattr(onednn, name)]
    bf16 = unavailable("bf16")
    return {
        "cpu_kernels": _shown("kernels", _origins.get("kernels", "")),
        "onednn_gemms": _shown("onednn", f"{', '.join(gemms)} from {_origins.get('onednn')}"),
        "onednn_convolutions": _shown("onednn_conv", "in use"),
        "bf16_products": f"available ({', '.join(cpu_bf16_flags())})" if bf16 is None else bf16,
    }
