"""oneDNN primitives through its C API: memory descriptors, primitive descriptors and
programs of primitives run as one signal-safe call.

Paddle's wheels ship oneDNN's library (``libdnnl.so.3``: 3.6.2 in Paddle 3.3.1, 3.2.1 in
2.6.2) but not its full headers, so the part of the C API used here is declared by hand; the
enum values and signatures are the same in oneDNN 3.2 and 3.6 (``include/oneapi/dnnl/
dnnl_types.h``, ``dnnl.h``) and stable across oneDNN 3.x.

A :class:`Program` is a fixed sequence of primitives (a convolution and the reorders between
Paddle's plain layouts and the blocked ones the convolution chose) over named buffers. Built
once per shape, it runs with Paddle tensors bound to its plain buffers and scratch tensors
for the rest, through the compiled kernels' ``swint_run_primitives`` with asynchronous
signals blocked, as oneDNN's GEMMs are (:mod:`.onednn`).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from functools import cache

import paddle

from ...runtime import threads_in_use
from . import backend

# dnnl_data_type_t
DATA_TYPES = {paddle.float32: 3, paddle.bfloat16: 2}
# dnnl_format_tag_t: any (the primitive chooses), and plain row-major layouts by rank
FORMAT_ANY = 1
PLAIN_FORMATS = {1: 2, 2: 3, 3: 4, 4: 5}  # dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd
# dnnl_prop_kind_t, dnnl_alg_kind_t, dnnl_engine_kind_t
FORWARD_TRAINING = 64
CONVOLUTION_DIRECT = 1
ENGINE_CPU = 1
STREAM_DEFAULT_FLAGS = 1
# dnnl_query_t: a primitive descriptor's memory descriptors
QUERIES = {"src": 129, "diff_src": 130, "weights": 131, "diff_weights": 132, "dst": 133}
QUERIES["diff_dst"] = 134
QUERY_IMPLEMENTATION = 8  # dnnl_query_impl_info_str
# DNNL_ARG_*
ARGS = {"src": 1, "dst": 17, "weights": 33, "bias": 41, "diff_src": 129, "diff_dst": 145}
ARGS.update(diff_weights=161, diff_bias=169, from_=1, to=17)
MAX_DIMS = 12

Dims = ctypes.c_int64 * MAX_DIMS
_P, _PP, _INT, _I64 = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int64


class ExecArg(ctypes.Structure):
    """``dnnl_exec_arg_t``: an argument index (``DNNL_ARG_*``) and its memory."""

    _fields_ = [("arg", ctypes.c_int), ("memory", ctypes.c_void_p)]


# name: argument types; each returns a dnnl_status_t unless listed in _RESULTS
_ARGUMENTS = {
    "dnnl_engine_create": [_PP, _INT, ctypes.c_size_t],
    "dnnl_stream_create": [_PP, _P, ctypes.c_uint],
    "dnnl_memory_desc_create_with_tag": [_PP, _INT, Dims, _INT, _INT],
    "dnnl_memory_desc_equal": [_P, _P],
    "dnnl_memory_desc_get_size": [_P],
    "dnnl_memory_create": [_PP, _P, _P, _P],
    "dnnl_memory_desc_destroy": [_P],
    "dnnl_memory_destroy": [_P],
    "dnnl_primitive_desc_destroy": [_P],
    "dnnl_primitive_destroy": [_P],
    "dnnl_memory_set_data_handle": [_P, _P],
    "dnnl_primitive_desc_query_md": [_P, _INT, _INT],
    "dnnl_primitive_desc_query": [_P, _INT, _INT, _P],
    "dnnl_primitive_create": [_PP, _P],
    "dnnl_reorder_primitive_desc_create": [_PP, _P, _P, _P, _P, _P],
    # pd, engine, prop kind, algorithm, src, weights, bias, dst, strides, dilates, pad l,
    # pad r, attr
    "dnnl_convolution_forward_primitive_desc_create": [
        *(_PP, _P, _INT, _INT, _P, _P, _P, _P, Dims, Dims, Dims, Dims, _P)
    ],
    # pd, engine, algorithm, diff src, weights, diff dst, strides, dilates, pad l, pad r, hint, attr
    "dnnl_convolution_backward_data_primitive_desc_create": [
        *(_PP, _P, _INT, _P, _P, _P, Dims, Dims, Dims, Dims, _P, _P)
    ],
    # pd, engine, algorithm, src, diff weights, diff bias, diff dst, strides, dilates, pad l,
    # pad r, hint, attr
    "dnnl_convolution_backward_weights_primitive_desc_create": [
        *(_PP, _P, _INT, _P, _P, _P, _P, Dims, Dims, Dims, Dims, _P, _P)
    ],
}
_RESULTS = {
    "dnnl_memory_desc_equal": _INT,
    "dnnl_memory_desc_get_size": ctypes.c_size_t,
    "dnnl_primitive_desc_query_md": _P,
}
EXECUTE, WAIT = "dnnl_primitive_execute", "dnnl_stream_wait"  # called by the kernels
SIGNATURES: backend.Signatures = {
    name: (argtypes, _RESULTS.get(name, _INT)) for name, argtypes in _ARGUMENTS.items()
}
# what the convolution path needs of oneDNN's library (its probe, :mod:`.backend`)
FUNCTIONS = [*SIGNATURES, EXECUTE, WAIT]
# the compiled kernels' function that runs a program: execute, wait, stream, count,
# primitives, arg counts, args, threads
KERNEL_SIGNATURES: backend.Signatures = {
    "swint_run_primitives": ([_P, _P, _P, _I64, _P, _P, _P, _INT], _INT),
}


class OneDNNError(RuntimeError):
    """A oneDNN call failed (status ``dnnl_unimplemented`` when no implementation fits)."""


@dataclass
class _Api:
    functions: ctypes.CDLL
    engine: ctypes.c_void_p
    stream: ctypes.c_void_p
    execute: ctypes.c_void_p  # dnnl_primitive_execute and dnnl_stream_wait, for the kernels
    wait: ctypes.c_void_p

    def call(self, name: str, *args: object) -> None:
        status = getattr(self.functions, name)(*args)
        if status != 0:
            raise OneDNNError(f"{name} failed with oneDNN status {status}")


@cache
def api() -> _Api:
    """The C API with a CPU engine and stream (once :func:`.backend.enabled` says the
    ``onednn_conv`` path runs)."""
    functions = backend.library("onednn", SIGNATURES)
    execute, wait = (ctypes.cast(getattr(functions, name), _P) for name in (EXECUTE, WAIT))
    engine, stream = ctypes.c_void_p(), ctypes.c_void_p()
    loaded = _Api(functions, engine, stream, execute, wait)
    loaded.call("dnnl_engine_create", ctypes.byref(engine), ENGINE_CPU, 0)
    loaded.call("dnnl_stream_create", ctypes.byref(stream), engine, STREAM_DEFAULT_FLAGS)
    return loaded


class Handle(ctypes.c_void_p):
    """A oneDNN object made by :func:`created`, destroyed through the C API when collected."""

    destructor = ""

    def __del__(self) -> None:
        destroy = getattr(self, "_destroy", None)
        if destroy is not None and self.value:
            destroy(self)


class MemoryDesc(Handle):
    destructor = "dnnl_memory_desc_destroy"


class PrimitiveDesc(Handle):
    destructor = "dnnl_primitive_desc_destroy"


class Primitive(Handle):
    destructor = "dnnl_primitive_destroy"


class Memory(Handle):
    destructor = "dnnl_memory_destroy"


def created(kind: type[Handle], constructor: str, *args: object) -> Handle:
    """A new ``kind`` of object from the C API's ``constructor`` (whose first parameter
    receives it) called with ``args``."""
    handle = kind()
    loaded = api()
    loaded.call(constructor, ctypes.byref(handle), *args)
    handle._destroy = getattr(loaded.functions, kind.destructor)
    return handle


def dims(values: tuple[int, ...] | list[int]) -> Dims:
    return Dims(*values)


def memory_desc(
    shape: tuple[int, ...] | list[int], dtype: paddle.dtype, plain: bool = True
) -> MemoryDesc:
    """A memory descriptor of ``shape`` and ``dtype``: plain row-major (Paddle's contiguous
    layout) or, with ``plain=False``, any layout the primitive chooses."""
    tag = PLAIN_FORMATS[len(shape)] if plain else FORMAT_ANY
    constructor = "dnnl_memory_desc_create_with_tag"
    return created(MemoryDesc, constructor, len(shape), dims(shape), DATA_TYPES[dtype], tag)


def queried(pd: ctypes.c_void_p, what: str) -> ctypes.c_void_p:
    """The memory descriptor of ``what`` (``src``, ``diff_dst``, ...) that the primitive
    descriptor ``pd`` chose (owned by ``pd``)."""
    return ctypes.c_void_p(api().functions.dnnl_primitive_desc_query_md(pd, QUERIES[what], 0))


def implementation(pd: PrimitiveDesc) -> str:
    """The name of the implementation oneDNN picked for ``pd`` (``brg_conv_fwd:avx512_core``,
    ``gemm:jit``, ...)."""
    name = ctypes.c_char_p()
    api().call("dnnl_primitive_desc_query", pd, QUERY_IMPLEMENTATION, 0, ctypes.byref(name))
    return (name.value or b"").decode()


def same_layout(a: ctypes.c_void_p, b: ctypes.c_void_p) -> bool:
    return bool(api().functions.dnnl_memory_desc_equal(a, b))


@dataclass
class _Buffer:
    md: ctypes.c_void_p
    memory: Memory
    nbytes: int
    bound: bool  # a Paddle tensor is bound to it at each run; else a scratch tensor


@dataclass
class Program:
    """Primitives run in order over named buffers. Plain buffers are bound to contiguous
    Paddle tensors at each :meth:`run`; the others get scratch memory for the run."""

    buffers: dict[str, _Buffer] = field(default_factory=dict)
    steps: list[tuple[Primitive, list[tuple[int, str]]]] = field(default_factory=list)
    # each step's descriptor (the buffers' layouts were queried from them), kept with it
    _keep: list[PrimitiveDesc] = field(default_factory=list)

    def buffer(self, name: str, md: ctypes.c_void_p, bound: bool) -> str:
        memory = created(Memory, "dnnl_memory_create", md, api().engine, None)
        nbytes = api().functions.dnnl_memory_desc_get_size(md)
        self.buffers[name] = _Buffer(md, memory, nbytes, bound)
        return name

    def step(self, pd: PrimitiveDesc, args: dict[str, str]) -> None:
        """Run the primitive of ``pd`` with its arguments (``src``, ``diff_dst``, ...) in the
        named buffers."""
        primitive = created(Primitive, "dnnl_primitive_create", pd)
        self._keep.append(pd)
        self.steps.append((primitive, [(ARGS[arg], name) for arg, name in args.items()]))

    def converted(self, name: str, md: ctypes.c_void_p) -> str:
        """The buffer holding buffer ``name``'s data in layout and type ``md``: ``name`` itself
        when they match, else a scratch buffer filled by a reorder step (made once per
        layout)."""
        if same_layout(self.buffers[name].md, md):
            return name
        for other, buffer in self.buffers.items():
            if other.startswith(name + "@") and same_layout(buffer.md, md):
                return other
        target = self.buffer(f"{name}@{len(self.buffers)}", md, bound=False)
        self.reorder(name, target)
        return target

    def reorder(self, source: str, target: str) -> None:
        """A step copying buffer ``source`` into buffer ``target`` (layout and type change)."""
        src, dst, engine = self.buffers[source].md, self.buffers[target].md, api().engine
        constructor = "dnnl_reorder_primitive_desc_create"
        pd = created(PrimitiveDesc, constructor, src, engine, dst, engine, None)
        self.step(pd, {"from_": source, "to": target})

    def implementations(self) -> list[str]:
        """oneDNN's implementation of each step, in order (see :func:`implementation`)."""
        return [implementation(pd) for pd in self._keep]

    def finish(self) -> None:
        """Fix the argument tables once all steps are in."""
        count = len(self.steps)
        flat = [(arg, name) for _, args in self.steps for arg, name in args]
        self._primitives = (ctypes.c_void_p * count)(*(p for p, _ in self.steps))
        self._counts = (ctypes.c_int * count)(*(len(args) for _, args in self.steps))
        self._args = (ExecArg * len(flat))(
            *(ExecArg(arg, self.buffers[name].memory) for arg, name in flat)
        )

    def run(self, tensors: dict[str, paddle.Tensor]) -> None:
        """Run the steps with ``tensors`` (contiguous, CPU) as the bound buffers."""
        a = api()
        scratch = []  # held until the run returns
        for name, buffer in self.buffers.items():
            if buffer.bound:
                pointer = tensors[name].data_ptr()
            else:
                scratch.append(paddle.empty([max(buffer.nbytes, 1)], dtype=paddle.uint8))
                pointer = scratch[-1].data_ptr()
            a.call("dnnl_memory_set_data_handle", buffer.memory, ctypes.c_void_p(pointer))
        status = backend.library("kernels", KERNEL_SIGNATURES).swint_run_primitives(
            a.execute,
            a.wait,
            a.stream,
            len(self.steps),
            self._primitives,
            self._counts,
            self._args,
            threads_in_use(),
        )
        if status != 0:
            raise OneDNNError(f"a oneDNN primitive failed with status {status}")
