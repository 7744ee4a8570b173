"""The recorder that draws the run's own training curves when it ends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...files import WriteError
from ...runs import read_run
from ..position import Position
from .base import Outcome, Recorder


class CurvesPlot(Recorder):
    """``RUN/curves.png`` at the end of every run (finished, interrupted or failed): the
    training loss and the validation metric per epoch, as ``swint compare`` draws them. A
    plot that cannot be written is a note (``say``), not a change of the run's outcome."""

    def __init__(self, run: Path, say: Callable[[str], None]) -> None:
        self.run, self.say = run, say

    def finish(self, outcome: Outcome, position: Position) -> None:
        from ...compare.plots import CURVES, plot_curves  # matplotlib: only when it draws

        try:
            plot_curves([read_run(self.run)], self.run / CURVES)
        except WriteError as exc:
            self.say(f"note: {CURVES} not drawn ({exc})")
