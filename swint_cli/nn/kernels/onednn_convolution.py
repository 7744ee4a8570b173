"""2-D convolutions through oneDNN's convolution primitives: forward, backward data and
backward weights, float32 or bfloat16 inputs with float32 results.

Paddle's tensors stay in their plain NCHW / OIHW layouts; each program reorders them into
the blocked layouts the primitive chose (converting to bfloat16 on the way when asked) and
its result back, all in one call (:class:`.onednn_primitives.Program`). Programs are built
once per :class:`Geometry` and kept for the process, as oneDNN's own primitive cache does.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from functools import cache

import paddle

from . import onednn_primitives as dnnl

_state = {"enabled": os.environ.get("SWINT_ONEDNN_CONV", "1") != "0"}


def set_enabled(enabled: bool) -> bool:
    """Use oneDNN's convolutions (when found) or not; returns the previous setting.
    ``SWINT_ONEDNN_CONV=0`` starts with them off; ``SWINT_ONEDNN=0`` turns off every oneDNN
    path."""
    previous = _state["enabled"]
    _state["enabled"] = enabled
    return previous


def enabled() -> bool:
    """The switch of :func:`set_enabled`."""
    return _state["enabled"]


def available() -> bool:
    """True when oneDNN's convolutions are enabled and found."""
    return _state["enabled"] and dnnl.available()


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
        size = []
        for extent, k, s, p, d in zip(
            (self.height, self.width),
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
            strict=True,
        ):
            size.append((extent + 2 * p - d * (k - 1) - 1) // s + 1)
        return size[0], size[1]

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


def _chosen(g: Geometry, shape: list[int]) -> ctypes.c_void_p:
    """A descriptor of an operand of the primitive's choosing, in the operand dtype."""
    return dnnl.memory_desc(shape, _operand_dtype(g), plain=False)


def _plain(shape: list[int]) -> ctypes.c_void_p:
    return dnnl.memory_desc(shape, paddle.float32)


@cache
def _forward_descriptor(g: Geometry) -> ctypes.c_void_p:
    pd = ctypes.c_void_p()
    api = dnnl.api()
    api.call(
        "dnnl_convolution_forward_primitive_desc_create",
        ctypes.byref(pd),
        api.engine,
        dnnl.FORWARD_TRAINING,
        dnnl.CONVOLUTION_DIRECT,
        _chosen(g, g.input_shape()),
        _chosen(g, g.weight_shape()),
        _plain([g.out_channels]) if g.bias else None,
        dnnl.memory_desc(g.output_shape(), paddle.float32, plain=False),
        *g.settings(),
        None,
    )
    return pd


def _output_step(program: dnnl.Program, name: str, chosen: ctypes.c_void_p) -> str:
    """Where a primitive writes the plain bound buffer ``name``: ``name`` itself when the
    primitive chose its layout, else a scratch buffer reordered into it (call
    :func:`_finish_output` after the primitive's step)."""
    if dnnl.same_layout(program.buffers[name].md, chosen):
        return name
    return program.buffer(f"{name}@chosen", chosen, bound=False)


def _finish_output(program: dnnl.Program, name: str, written: str) -> None:
    if written != name:
        program.reorder(written, name)


@cache
def forward_program(g: Geometry) -> dnnl.Program:
    """``y = conv(x, w) (+ b)`` over bound buffers ``x``, ``w``, ``b`` (with a bias) and
    ``y``, all float32 and plain."""
    pd = _forward_descriptor(g)
    program = dnnl.Program()
    program.buffer("x", _plain(g.input_shape()), bound=True)
    program.buffer("w", _plain(g.weight_shape()), bound=True)
    program.buffer("y", _plain(g.output_shape()), bound=True)
    args = {
        "src": program.converted("x", dnnl.queried(pd, "src")),
        "weights": program.converted("w", dnnl.queried(pd, "weights")),
    }
    if g.bias:
        args["bias"] = program.buffer("b", _plain([g.out_channels]), bound=True)
    args["dst"] = _output_step(program, "y", dnnl.queried(pd, "dst"))
    program.step(pd, args)
    _finish_output(program, "y", args["dst"])
    program.finish()
    return program


@cache
def backward_program(g: Geometry, input_grad: bool, weight_grad: bool) -> dnnl.Program:
    """From bound ``dy``: with ``input_grad``, ``dx`` (from ``w``); with ``weight_grad``,
    ``dw`` and with a bias ``db`` (from ``x``). All float32 and plain."""
    api = dnnl.api()
    hint = _forward_descriptor(g)
    program = dnnl.Program()
    program.buffer("dy", _plain(g.output_shape()), bound=True)
    if input_grad:
        pd = ctypes.c_void_p()
        api.call(
            "dnnl_convolution_backward_data_primitive_desc_create",
            ctypes.byref(pd),
            api.engine,
            dnnl.CONVOLUTION_DIRECT,
            dnnl.memory_desc(g.input_shape(), paddle.float32, plain=False),
            _chosen(g, g.weight_shape()),
            _chosen(g, g.output_shape()),
            *g.settings(),
            hint,
            None,
        )
        program.buffer("w", _plain(g.weight_shape()), bound=True)
        program.buffer("dx", _plain(g.input_shape()), bound=True)
        args = {
            "diff_dst": program.converted("dy", dnnl.queried(pd, "diff_dst")),
            "weights": program.converted("w", dnnl.queried(pd, "weights")),
            "diff_src": _output_step(program, "dx", dnnl.queried(pd, "diff_src")),
        }
        program.step(pd, args)
        _finish_output(program, "dx", args["diff_src"])
    if weight_grad:
        pd = ctypes.c_void_p()
        api.call(
            "dnnl_convolution_backward_weights_primitive_desc_create",
            ctypes.byref(pd),
            api.engine,
            dnnl.CONVOLUTION_DIRECT,
            _chosen(g, g.input_shape()),
            dnnl.memory_desc(g.weight_shape(), paddle.float32, plain=False),
            _plain([g.out_channels]) if g.bias else None,
            _chosen(g, g.output_shape()),
            *g.settings(),
            hint,
            None,
        )
        program.buffer("x", _plain(g.input_shape()), bound=True)
        program.buffer("dw", _plain(g.weight_shape()), bound=True)
        args = {
            "src": program.converted("x", dnnl.queried(pd, "src")),
            "diff_dst": program.converted("dy", dnnl.queried(pd, "diff_dst")),
            "diff_weights": _output_step(program, "dw", dnnl.queried(pd, "diff_weights")),
        }
        if g.bias:
            args["diff_bias"] = program.buffer("db", _plain([g.out_channels]), bound=True)
        program.step(pd, args)
        _finish_output(program, "dw", args["diff_weights"])
    program.finish()
    return program
