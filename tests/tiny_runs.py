"""Tiny quickstart runs for the tests that need a real run directory (a few seconds each)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from swint_cli.train import StopRequest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
CIFAR_MINI = ROOT.parent / "shared" / "data" / "cifar-10-mini-python.tar.gz"
TIMING = ["epoch_seconds", "images_per_second"]  # epochs.csv's columns that vary run to run


def tiny(runs_dir: Path, *extra: str) -> list[str]:
    """Overrides that shrink the quickstart to a few seconds: 96 training images in batches
    of 16 (6 steps per epoch), 32 validation images, 3 epochs, no loader workers."""
    return [
        f"output.runs_dir={runs_dir}",
        "data.train_size=96",
        "data.val_size=32",
        "data.num_workers=0",
        "training.batch_size=16",
        "training.epochs=3",
        "training.warmup_batches=2",
        "model.replace[0].droppath=0.2",  # exercises the per-step random state
        *extra,
    ]


def learning_columns(run: Path) -> pd.DataFrame:
    """A run's epochs.csv without its timing columns: what the same updates reproduce."""
    return pd.read_csv(run / "epochs.csv").drop(columns=TIMING)


def set_args(overrides: list[str]) -> list[str]:
    """``--set`` arguments for the command line."""
    return [arg for override in overrides for arg in ("--set", override)]


def run_dir_of(runs_dir: Path) -> Path:
    """The one run directory in ``runs_dir``."""
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return run


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the 4th field of /proc/<child>/stat)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = stat.read_text().rsplit(")", 1)[1].split()[1]  # after name, state
        except OSError:  # exited meanwhile
            continue
        if int(parent) == pid:
            found.append(int(stat.parent.name))
    return found


class StopAfter(StopRequest):
    """Asks the trainer to stop once it has checked the flag ``checks`` times (one per batch)."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def __bool__(self) -> bool:
        self.left -= 1
        if self.left < 0:
            self.set("test")
        return super().__bool__()
