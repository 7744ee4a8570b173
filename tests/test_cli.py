"""The swint console script: help, environment report, CPU threads."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import paddle
import pytest
from conftest import require_or_skip, skip_unless_kernels_built
from typer.testing import CliRunner

from swint_cli.cli import app
from swint_cli.train import TrainOptions, TrainResult

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "env" in result.output


def value(output: str, key: str) -> str:
    """The value cell of ``key``'s row in the ``swint env`` table."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 2 and cells[1] == key:
            return cells[2]
    raise AssertionError(f"no {key} row in {output}")


def mkl_threads() -> int:
    """The thread count MKL itself reports: what Paddle's set_num_threads changed."""
    library = Path(paddle.__file__).parent / "libs" / "libmklml_intel.so"
    if not library.is_file():
        pytest.skip(f"this Paddle build has no {library.name}")
    return ctypes.CDLL(str(library)).MKL_Get_Max_Threads()


def test_env_uses_all_cores_by_default() -> None:
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    cores = len(os.sched_getaffinity(0))
    assert value(result.output, "threads") == str(cores)
    assert mkl_threads() == cores


def test_threads_option_is_applied_to_paddle() -> None:
    try:
        result = runner.invoke(app, ["--threads", "1", "env"])
        assert result.exit_code == 0, result.output
        assert value(result.output, "threads") == "1"
        assert mkl_threads() == 1
    finally:
        runner.invoke(app, ["env"])  # all cores again for the tests that follow


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


def test_commands_get_the_cpu_settings_their_callback_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``swint --threads N train`` hands the training the settings ``--threads N`` applied
    (for its env.json), each invocation its own."""
    import swint_cli.train as training

    seen: list[object] = []

    def record(recipe: object, options: TrainOptions, stop: object) -> TrainResult:
        seen.append(options.runtime["threads"])
        return TrainResult(run_dir=None, status="finished", exit_code=0, task="classification")

    monkeypatch.setattr(training, "train", record)
    for threads in ("1", "2"):
        result = runner.invoke(
            app, ["--threads", threads, "train", str(RECIPES / "quickstart.yaml")]
        )
        assert result.exit_code == 0, result.output
    assert seen == [1, 2]


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
    assert value(tuned.stdout, "malloc_tuned") == "True"
    assert value(untuned.stdout, "malloc_tuned") == "False"


def test_env_reports_the_compiled_kernels_and_their_off_switch() -> None:
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    shown = value(result.output, "cpu_kernels")
    if shown.startswith("unavailable: "):
        skip_unless_kernels_built()  # fails instead where kernels must build (CI)
    else:
        library = ctypes.CDLL(shown)  # the file named is a library holding the kernels
        assert hasattr(library, "swint_layer_norm_backward")
    env = {**os.environ, "SWINT_CPU_KERNELS": "0"}
    out = subprocess.run(
        [sys.executable, "-m", "swint_cli", "env"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert value(out.stdout, "cpu_kernels") == "off"


def test_env_reports_onednn_convolutions_and_their_off_switch() -> None:
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    if value(result.output, "onednn_convolutions") != "in use":
        skip_unless_kernels_built()
        require_or_skip("SWINT_REQUIRE_KERNELS", "oneDNN's convolution primitives")
    env = {**os.environ, "SWINT_ONEDNN_CONV": "0"}
    out = subprocess.run(
        [sys.executable, "-m", "swint_cli", "env"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert value(out.stdout, "onednn_convolutions") == "off"
