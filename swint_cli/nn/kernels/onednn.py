"""Matrix products through the oneDNN library that Paddle's wheel ships.

Paddle's CPU wheels carry oneDNN (``paddle/libs/libdnnl.so.3``) and load it with Paddle,
bound to the same OpenMP runtime as Paddle's MKL, so its GEMMs share one thread pool with
MKL and the compiled kernels. Two of its BLAS-style functions are used, both row-major:

- ``dnnl_sgemm``: float32, on the long rows of SwinT's Linear layers faster than Paddle's
  ``matmul`` (up to 1.5x on the ``(R, 384) @ (384, 96)`` products; see the README's speed
  section);
- ``dnnl_gemm_bf16bf16f32``: bfloat16 inputs, float32 accumulation and output, the product
  of ``training.precision: bf16`` (Paddle's CPU ``matmul`` has no bfloat16 kernel).

Every call goes through the compiled kernels (``swint_gemm``, and ``swint_batched_gemm``,
which splits a batch such as the attention's ``(B*nW*nH, N, N)`` scores over threads, one
GEMM per matrix; float32 products of at most 64 columns with B not transposed it computes
itself where the CPU has AVX-512, faster than a oneDNN call at the attention's sizes), which
block asynchronous signals on the threads that run it: oneDNN's generated f32 GEMM kernels
keep the stack pointer in a heap buffer, so that a signal (Ctrl-C, SIGTERM, a timer, a
loader's SIGCHLD) handled during one corrupts the heap (oneDNN issue #4845, in the oneDNN of
Paddle 2.6 and 3.x).

The library is found at run time; when it, a symbol or the compiled kernels are missing,
:func:`status` says why, one line on stderr says so once, and callers use Paddle's ops.
``SWINT_CPU_KERNELS=0`` turns this off with the other kernels; ``SWINT_ONEDNN=0`` (or
:func:`set_enabled`) turns off only the oneDNN products, for comparisons.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import paddle

from ...runtime import threads_in_use
from . import library

LIBRARY_NAME = "libdnnl.so.3"
FLOAT32_GEMM = "dnnl_sgemm"
BFLOAT16_GEMM = "dnnl_gemm_bf16bf16f32"
# the GEMM that multiplies operands of each dtype (into float32)
GEMMS = {paddle.float32: FLOAT32_GEMM, paddle.bfloat16: BFLOAT16_GEMM}

_C, _I64, _F32, _P = ctypes.c_char, ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
_GEMM_ARGS = [_C, _C, _I64, _I64, _I64, _F32, _P, _I64, _P, _I64, _F32, _P, _I64]

_state: dict[str, object] = {
    "enabled": os.environ.get("SWINT_ONEDNN", "1") != "0",
    "loaded": False,
    "functions": {},
    "origin": "",
}


def set_enabled(enabled: bool) -> bool:
    """Use oneDNN's products (when found) or not; returns the previous setting."""
    previous = bool(_state["enabled"])
    _state["enabled"] = enabled
    return previous


def library_path() -> Path | None:
    """Where Paddle's wheel keeps its oneDNN, or None when Paddle has no ``libs/`` copy."""
    spec = importlib.util.find_spec("paddle")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "libs" / LIBRARY_NAME
    return path if path.exists() else None


def _load() -> tuple[dict[str, ctypes._CFuncPtr], str]:
    """The GEMM functions found (name -> function) and the library path, or why none."""
    path = library_path()
    if path is None:
        return {}, f"no {LIBRARY_NAME} in Paddle's libs/"
    try:
        library = ctypes.CDLL(str(path))
    except OSError as exc:
        return {}, f"cannot load {path}: {exc}"
    functions = {}
    for name in (FLOAT32_GEMM, BFLOAT16_GEMM):
        function = getattr(library, name, None)
        if function is not None:
            function.argtypes, function.restype = _GEMM_ARGS, ctypes.c_int
            functions[name] = function
    if FLOAT32_GEMM not in functions:
        return {}, f"{path} has no {FLOAT32_GEMM}"
    return functions, str(path)


def _functions() -> dict[str, ctypes._CFuncPtr]:
    if not _state["loaded"]:
        functions, origin = _load()
        _state.update(loaded=True, functions=functions, origin=origin)
        if not functions:
            sys.stderr.write(f"swint: oneDNN GEMMs unavailable ({origin}); using Paddle's matmul\n")
        elif BFLOAT16_GEMM not in functions:
            sys.stderr.write(f"swint: {origin} has no {BFLOAT16_GEMM}; bf16 products unavailable\n")
    return _state["functions"]  # type: ignore[return-value]


def status() -> dict[str, object]:
    """Whether the oneDNN products are enabled and found, which GEMMs, and the library or why
    it is missing."""
    found = sorted(_functions()) if _state["enabled"] else None
    return {"enabled": _state["enabled"], "gemms": found, "origin": _state["origin"]}


def has_gemm(name: str) -> bool:
    """True when oneDNN's ``name`` GEMM is enabled and found (:data:`FLOAT32_GEMM`,
    :data:`BFLOAT16_GEMM`)."""
    return bool(_state["enabled"]) and name in _functions()


def _address(name: str) -> ctypes.c_void_p:
    """The address of oneDNN's ``name`` function, for the compiled kernels to call."""
    return ctypes.cast(_functions()[name], ctypes.c_void_p)


def gemm(
    a: paddle.Tensor,
    b: paddle.Tensor,
    out: paddle.Tensor,
    transpose_a: bool,
    transpose_b: bool,
    accumulate: bool = False,
) -> paddle.Tensor:
    """``out (+)= op(a) @ op(b)`` for contiguous row-major 2-D ``a``, ``b`` (both float32 or
    both bfloat16) and float32 ``out``; ``accumulate`` adds to ``out`` instead of overwriting.

    Returns ``out``. The caller checks :func:`has_gemm` for the inputs' dtype and
    :func:`swint_cli.nn.kernels.usable` first.
    """
    rows_a, cols_a = a.shape
    rows_b, cols_b = b.shape
    m, k = (cols_a, rows_a) if transpose_a else (rows_a, cols_a)
    n = rows_b if transpose_b else cols_b
    name = GEMMS[a.dtype]
    status = library().swint_gemm(
        _address(name),
        b"T" if transpose_a else b"N",
        b"T" if transpose_b else b"N",
        m,
        n,
        k,
        1.0,
        a.data_ptr(),
        cols_a,
        b.data_ptr(),
        cols_b,
        1.0 if accumulate else 0.0,
        out.data_ptr(),
        n,
        threads_in_use(),
    )
    if status != 0:
        raise RuntimeError(f"{name} failed with oneDNN status {status} for {m}x{k} @ {k}x{n}")
    return out


@dataclass(frozen=True)
class Matrices:
    """A batch of row-major matrices inside one contiguous tensor: matrix ``(i, j)`` starts
    at element ``offset + i * outer + j * inner`` and its rows are ``ld`` elements apart
    (heads of a token-major tensor, say, or one matrix repeated with strides 0)."""

    tensor: paddle.Tensor
    outer: int
    inner: int
    ld: int
    offset: int = 0

    @classmethod
    def stacked(cls, t: paddle.Tensor) -> Matrices:
        """The matrices of a contiguous ``(batch, rows, cols)`` tensor, one per batch item."""
        _, rows, cols = t.shape
        return cls(t, rows * cols, 0, cols)

    def pointer(self) -> int:
        return self.tensor.data_ptr() + self.offset * self.tensor.element_size()


def batched_gemm(
    a: Matrices,
    b: Matrices,
    out: Matrices,
    batch: tuple[int, int],
    shape: tuple[int, int, int],
    transpose_a: bool = False,
    transpose_b: bool = False,
) -> None:
    """``out_ij = op(a_ij) @ op(b_ij)`` for ``i, j < batch`` with ``op(a_ij)`` of shape
    ``(m, k)`` and ``op(b_ij)`` ``(k, n)`` for ``shape = (m, n, k)``; ``a`` and ``b`` both
    float32 or both bfloat16, ``out`` float32. Runs the compiled kernels'
    ``swint_batched_gemm`` over the batch (after :func:`swint_cli.nn.kernels.usable`)."""
    m, n, k = shape
    name = GEMMS[a.tensor.dtype]
    status = library().swint_batched_gemm(
        _address(name),
        a.tensor.element_size(),
        b"T" if transpose_a else b"N",
        b"T" if transpose_b else b"N",
        *batch,
        m,
        n,
        k,
        1.0,
        *(a.pointer(), a.outer, a.inner, a.ld),
        *(b.pointer(), b.outer, b.inner, b.ld),
        0.0,
        *(out.pointer(), out.outer, out.inner, out.ld),
        threads_in_use(),
    )
    if status != 0:
        raise RuntimeError(f"{name} failed with oneDNN status {status} in a batch of {batch}")
