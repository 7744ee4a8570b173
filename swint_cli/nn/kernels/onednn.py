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

Whether these products run is :func:`.backend.enabled` (``onednn`` for float32, ``bf16``
for bfloat16): ``SWINT_CPU_KERNELS=0`` turns them off with the other kernels,
``SWINT_ONEDNN=0`` only the oneDNN paths.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import paddle

from ...runtime import threads_in_use
from . import backend

# the GEMM that multiplies operands of each dtype (into float32), and the path it runs on
GEMMS = {paddle.float32: backend.FLOAT32_GEMM, paddle.bfloat16: backend.BFLOAT16_GEMM}
PATHS = {paddle.float32: "onednn", paddle.bfloat16: "bf16"}

_P, _I64, _INT, _F32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float
_C = ctypes.c_char
# the compiled kernels' functions (matrix_kernels.c) that call oneDNN's GEMMs
SIGNATURES: backend.Signatures = {
    "swint_gemm": (
        # function, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads
        [_P, _C, _C, _I64, _I64, _I64, _F32, _P, _I64, _P, _I64, _F32, _P, _I64, _INT],
        _INT,
    ),
    "swint_batched_gemm": (
        # function, element size, transa, transb, outer, inner, m, n, k, alpha,
        # a, a_outer, a_inner, lda, b, b_outer, b_inner, ldb, beta,
        # c, c_outer, c_inner, ldc, threads
        [
            *(_P, _I64, _C, _C, _I64, _I64, _I64, _I64, _I64, _F32),
            *(_P, _I64, _I64, _I64, _P, _I64, _I64, _I64, _F32),
            *(_P, _I64, _I64, _I64, _INT),
        ],
        _INT,
    ),
}


def _kernels() -> ctypes.CDLL:
    return backend.library("kernels", SIGNATURES)


def address(name: str) -> ctypes.c_void_p:
    """The address of oneDNN's ``name`` function, for the compiled kernels to call."""
    return ctypes.cast(getattr(backend.library("onednn"), name), ctypes.c_void_p)


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

    Returns ``out``. The caller checks :func:`.backend.enabled` of the inputs' path
    (:data:`PATHS`) first.
    """
    rows_a, cols_a = a.shape
    rows_b, cols_b = b.shape
    m, k = (cols_a, rows_a) if transpose_a else (rows_a, cols_a)
    n = rows_b if transpose_b else cols_b
    name = GEMMS[a.dtype]
    status = _kernels().swint_gemm(
        address(name),
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
    ``swint_batched_gemm`` over the batch (once :func:`.backend.enabled` allows)."""
    m, n, k = shape
    name = GEMMS[a.tensor.dtype]
    status = _kernels().swint_batched_gemm(
        address(name),
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
