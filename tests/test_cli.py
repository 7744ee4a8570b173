"""The swint console script: help, environment report, CPU threads."""

from __future__ import annotations

import os
import subprocess
import sys

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
