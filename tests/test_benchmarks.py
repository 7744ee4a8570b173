"""Every script in benchmarks/ still runs: each at tiny sizes in its own process, so that
none can rot unnoticed. The PyTorch scripts run where torch is installed; elsewhere they are
compiled only. Their numbers are not checked: the scripts measure, they do not test."""

from __future__ import annotations

import importlib.util
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
PAIR = ["--batch", "1", "--resolution", "8", "--channels", "8", "--heads", "2", "--window", "4"]
PAIR += ["--repeat", "1", "--warmup", "0", "--threads", "1"]
BACKBONE = ["--backbone", "resnet18", "--batch", "2", "--resolution", "32", "--repeat", "1"]
BACKBONE += ["--threads", "1"]
RUNS = {
    "conv_paths.py": BACKBONE,
    "swint_block_pair.py": PAIR,
    "kernels_against_revision.py": ["--revision", "HEAD", "--only", "gelu", "--calls", "1"],
}
HELPERS = {"pair_options.py", "step_timer.py"}
WITH_TORCH = {"pair_vs_torch.py", "torch_swin_pair.py", "torchvision_resnet50.py"}


def test_every_script_is_run_or_compiled_here() -> None:
    scripts = {path.name for path in BENCHMARKS.glob("*.py")}
    assert scripts == set(RUNS) | HELPERS | WITH_TORCH


@pytest.mark.parametrize("script", sorted(RUNS))
def test_the_script_runs_at_tiny_sizes(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *RUNS[script]],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert done.stdout.strip(), "it printed no result"


@pytest.mark.parametrize("script", sorted(WITH_TORCH | HELPERS))
def test_the_torch_scripts_and_helpers_compile(script: str, tmp_path: Path) -> None:
    py_compile.compile(str(BENCHMARKS / script), cfile=str(tmp_path / "out.pyc"), doraise=True)
    if script in WITH_TORCH and importlib.util.find_spec("torch") is not None:
        done = subprocess.run(
            [sys.executable, str(BENCHMARKS / script), "--help"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
