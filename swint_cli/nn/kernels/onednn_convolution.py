"""2-D convolutions through oneDNN's convolution primitives: forward, backward data and
backward weights, float32 or bfloat16 inputs with float32 results.

Paddle's tensors stay in their plain NCHW / OIHW layouts; each program reorders them into
the blocked layouts the primitive chose (converting to bfloat16 on the way when asked) and
its result back, all in one call (:class:`.onednn_primitives.Program`). Programs are built
once per :class:`Geometry` and the last :data:`PROGRAMS_KEPT` used are kept, as oneDNN's own
primitive cache keeps its primitives.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import paddle

from . import onednn_primitives as dnnl

# programs (and forward descriptors) kept, the most recently used; more shapes rebuild theirs
PROGRAMS_KEPT = 64


def output_size(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """A convolution's output height and width for input ``size`` (symmetric zero padding)."""
    height, width = (
        (extent + 2 * p - d * (k - 1) - 1) // s + 1
        for extent, k, s, p, d in zip(size, kernel, stride, padding, dilation, strict=True)
    )
    return height, width


@dataclass(frozen=True)
class Geometry:
    """One convolution's shapes and settings: input ``(batch, in_channels, height, width)``,
    weight ``(out_channels, in_channels, *kernel)``, symmetric zero ``padding``, no groups;
    operands in bfloat16 when ``bfloat16`` (accumulated and returned in float32)."""

    batch: int
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    bias: bool
    bfloat16: bool

    def output_size(self) -> tuple[int, int]:
        settings = (self.kernel, self.stride, self.padding, self.dilation)
        return output_size((self.height, self.width), *settings)

    def input_shape(self) -> list[int]:
        return [self.batch, self.in_channels, self.height, self.width]

    def weight_shape(self) -> list[int]:
        return [self.out_channels, self.in_channels, *self.kernel]

    def output_shape(self) -> list[int]:
        return [self.batch, self.out_channels, *self.output_size()]

    def settings(self) -> tuple[dnnl.Dims, dnnl.Dims, dnnl.Dims, dnnl.Dims]:
        """oneDNN's strides, dilations (0: none), left and right paddings."""
        dilates = [d - 1 for d in self.dilation]
        return (*map(dnnl.dims, (self.stride, dilates, self.padding, self.padding)),)


def _operand_dtype(g: Geometry) -> paddle.dtype:
    return paddle.bfloat16 if g.bfloat16 else paddle.float32


def _chosen(g: Geometry, shape: list[int]) -> dnnl.MemoryDesc:
    """A descriptor of an operand in a layout of the primitive's choosing, in the operand
    dtype."""
    return dnnl.memory_desc(shape, _operand_dtype(g), plain=False)


def _result(shape: list[int]) -> dnnl.MemoryDesc:
    """A descriptor of a float32 result in a layout of the primitive's choosing."""
    return dnnl.memory_desc(shape, paddle.float32, plain=False)


def _plain(shape: list[int]) -> dnnl.MemoryDesc:
    return dnnl.memory_desc(shape, paddle.float32)


def _descriptor(kind: str, *args: object) -> dnnl.PrimitiveDesc:
    """A convolution primitive descriptor: ``dnnl_convolution_<kind>_primitive_desc_create``
    with ``args`` after the engine."""
    constructor = f"dnnl_convolution_{kind}_primitive_desc_create"
    return dnnl.created(dnnl.PrimitiveDesc, constructor, dnnl.api().engine, *args)


@lru_cache(maxsize=PROGRAMS_KEPT)
def _forward_descriptor(g: Geometry) -> dnnl.PrimitiveDesc:
    return _descriptor(
        "forward",
        dnnl.FORWARD_TRAINING,
        dnnl.CONVOLUTION_DIRECT,
        _chosen(g, g.input_shape()),
        _chosen(g, g.weight_shape()),
        _plain([g.out_channels]) if g.bias else None,
        _result(g.output_shape()),
        *g.settings(),
        None,
    )


def implementations(g: Geometry) -> dict[str, list[str]]:
    """The oneDNN implementation of each step (reorders included) of ``g``'s forward program
    and of its backward program for both gradients, in order: for benchmarks and diagnosis."""
    programs = {"forward": forward_program(g), "backward": backward_program(g, True, True)}
    return {kind: program.implementations() for kind, program in programs.items()}


def _add_primitive(
    program: dnnl.Program,
    pd: dnnl.PrimitiveDesc,
    inputs: dict[str, str],
    output: tuple[str, str],
    as_is: dict[str, str],
) -> None:
    """Add ``pd``'s primitive to ``program``: it reads the buffers ``inputs`` (argument ->
    buffer, reordered into the layouts ``pd`` chose), and ``as_is`` unchanged, and writes
    ``output`` (argument, buffer), through a scratch buffer and a reorder when ``pd`` chose
    another layout than the buffer's."""
    args = {arg: program.converted(name, dnnl.queried(pd, arg)) for arg, name in inputs.items()}
    args.update(as_is)
    arg, name = output
    chosen = dnnl.queried(pd, arg)
    if dnnl.same_layout(program.buffers[name].md, chosen):
        args[arg] = name
    else:
        args[arg] = program.buffer(f"{name}@chosen", chosen, bound=False)
    program.step(pd, args)
    if args[arg] != name:
        program.reorder(args[arg], name)


@lru_cache(maxsize=PROGRAMS_KEPT)
def forward_program(g: Geometry) -> dnnl.Program:
    """``y = conv(x, w) (+ b)`` over bound buffers ``x``, ``w``, ``b`` (with a bias) and
    ``y``, all float32 and plain."""
    pd = _forward_descriptor(g)
    program = dnnl.Program()
    program.buffer("x", _plain(g.input_shape()), bound=True)
    program.buffer("w", _plain(g.weight_shape()), bound=True)
    program.buffer("y", _plain(g.output_shape()), bound=True)
    bias = {"bias": program.buffer("b", _plain([g.out_channels]), bound=True)} if g.bias else {}
    _add_primitive(program, pd, {"src": "x", "weights": "w"}, ("dst", "y"), bias)
    program.finish()
    return program


@lru_cache(maxsize=PROGRAMS_KEPT)
def backward_program(g: Geometry, input_grad: bool, weight_grad: bool) -> dnnl.Program:
    """From bound ``dy``: with ``input_grad``, ``dx`` (from ``w``); with ``weight_grad``,
    ``dw`` and with a bias ``db`` (from ``x``). All float32 and plain."""
    hint = _forward_descriptor(g)
    program = dnnl.Program()
    program.buffer("dy", _plain(g.output_shape()), bound=True)
    if input_grad:
        pd = _descriptor(
            "backward_data",
            dnnl.CONVOLUTION_DIRECT,
            _result(g.input_shape()),
            _chosen(g, g.weight_shape()),
            _chosen(g, g.output_shape()),
            *g.settings(),
            hint,
            None,
        )
        program.buffer("w", _plain(g.weight_shape()), bound=True)
        program.buffer("dx", _plain(g.input_shape()), bound=True)
        _add_primitive(program, pd, {"diff_dst": "dy", "weights": "w"}, ("diff_src", "dx"), {})
    if weight_grad:
        pd = _descriptor(
            "backward_weights",
            dnnl.CONVOLUTION_DIRECT,
            _chosen(g, g.input_shape()),
            _result(g.weight_shape()),
            _plain([g.out_channels]) if g.bias else None,
            _chosen(g, g.output_shape()),
            *g.settings(),
            hint,
            None,
        )
        program.buffer("x", _plain(g.input_shape()), bound=True)
        program.buffer("dw", _plain(g.weight_shape()), bound=True)
        bias = {}
        if g.bias:
            bias["diff_bias"] = program.buffer("db", _plain([g.out_channels]), bound=True)
        inputs = {"src": "x", "diff_dst": "dy"}
        _add_primitive(program, pd, inputs, ("diff_weights", "dw"), bias)
    program.finish()
    return program
