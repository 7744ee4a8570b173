"""A rich table of a model's Conv2D (and Conv2DTranspose) slots, for ``swint slots``."""

from __future__ import annotations

from rich.table import Table

from .surgery import ConvSlot


def _pair(value: tuple[int, int]) -> str:
    return f"{value[0]}x{value[1]}"


def slots_table(
    slots: list[ConvSlot], replaced: set[str] | None = None, hybrid: set[str] = frozenset()
) -> Table:
    """One row per slot: path, in, out, kernel, stride, input (HxW), params, replaced.

    ``replaced`` holds the paths the recipe's rules replace (``yes``, else ``-``; ``hybrid``
    for those in ``hybrid``, which keep the convolution beside a SwinT); None leaves the
    ``replaced`` column out.
    """
    table = Table()
    table.add_column("path", overflow="fold")
    for name in ("in", "out"):
        table.add_column(name, justify="right")
    for name in ("kernel", "stride", "input"):
        table.add_column(name)
    table.add_column("params", justify="right")
    if replaced is not None:
        table.add_column("replaced")
    for slot in slots:
        stride = str(slot.stride[0]) if slot.stride[0] == slot.stride[1] else _pair(slot.stride)
        if slot.transposed:
            stride += " (transposed)"
        row = [
            slot.path,
            str(slot.in_channels),
            str(slot.out_channels),
            _pair(slot.kernel),
            stride,
            _pair(slot.input_size),
            f"{slot.params:,}",
        ]
        if replaced is not None:
            mark = "hybrid" if slot.path in hybrid else "yes"
            row.append(mark if slot.path in replaced else "-")
        table.add_row(*row)
    return table
