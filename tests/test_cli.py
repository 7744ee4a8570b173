"""The swint console script: help, environment report, CPU threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swint_cli.cli import app

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "env" in result.output


def test_env_uses_all_cores_by_default() -> None:
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0
    threads_row = next(line for line in result.output.splitlines() if "threads" in line)
    assert str(len(os.sched_getaffinity(0))) in threads_row


def test_threads_option_is_applied_to_paddle() -> None:
    result = runner.invoke(app, ["--threads", "1", "env"])
    assert result.exit_code == 0
    threads_row = next(line for line in result.output.splitlines() if "threads" in line)
    assert "1" in threads_row


def test_console_script_sets_mkl_cpu_type_before_paddle_loads() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MKL_DEBUG_CPU_TYPE"}
    out = subprocess.run(
        [sys.executable, "-m", "swint_cli", "env"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert any("mkl_debug_cpu_type" in line and "5" in line for line in out.stdout.splitlines())


def test_user_mkl_setting_is_kept() -> None:
    env = {**os.environ, "MKL_DEBUG_CPU_TYPE": "2"}
    out = subprocess.run(
        [sys.executable, "-m", "swint_cli", "env"], env=env, capture_output=True, text=True
    )
    row = next(line for line in out.stdout.splitlines() if "mkl_debug_cpu_type" in line)
    assert "2" in row


RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def test_slots_lists_and_marks_the_recipes_replacements() -> None:
    result = runner.invoke(app, ["slots", str(RECIPES / "quickstart.yaml")])
    assert result.exit_code == 0, result.output
    marked = [line for line in result.output.splitlines() if "yes" in line]
    assert len(marked) == 2 and all("conv2" in line for line in marked)
    assert "7 Conv2D slots of small_cnn at 32x32; the recipe replaces 2" in result.output


def test_slots_of_a_backbone_name_at_a_resolution() -> None:
    result = runner.invoke(app, ["slots", "resnet18", "--resolution", "64"])
    assert result.exit_code == 0, result.output
    assert "layer4.1.conv2" in result.output and "2x2" in result.output


def test_slots_of_an_unknown_backbone_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["slots", "resnet5"])
    assert result.exit_code == 2
    assert "unknown backbone 'resnet5'" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("training:\n  optimizer:\n    lerning_rate: 0.1\n", "did you mean learning_rate?"),
        ("model:\n  replace: [a, b\n", "malformed YAML"),
        (
            "model:\n  replace:\n    - slots: x\n    - slots: y\n      window_size: -3\n",
            "model.replace[1].window_size: expected a positive integer, got -3",
        ),
    ],
)
def test_recipe_errors_reach_the_user_as_one_line(tmp_path: Path, text: str, message: str) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    result = runner.invoke(app, ["train", str(recipe)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert str(recipe) in result.output


def _row(output: str, key: str) -> str:
    return next(line for line in output.splitlines() if key in line)


def test_malloc_tuning_is_on_by_default_and_off_with_no_tune() -> None:
    tuned = subprocess.run(
        [sys.executable, "-m", "swint_cli", "env"], capture_output=True, text=True, check=True
    )
    untuned = subprocess.run(
        [sys.executable, "-m", "swint_cli", "--no-tune", "env"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "True" in _row(tuned.stdout, "malloc_tuned")
    assert "False" in _row(untuned.stdout, "malloc_tuned")


def test_env_reports_the_compiled_kernels_and_their_off_switch() -> None:
    result = runner.invoke(app, ["env"])
    row = next(line for line in result.output.splitlines() if "cpu_kernels" in line)
    assert ".so" in row or "unavailable" in row
    env = {**os.environ, "SWINT_CPU_KERNELS": "0"}
    out = subprocess.run(
        [sys.executable, "-m", "swint_cli", "env"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "cpu_kernels" in line)
    assert row.split("│")[2].strip() == "off"
