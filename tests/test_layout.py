"""The package's layering, as the README's "Layout" section states it, read from the imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "swint_cli"
ROOT = "(swint_cli)"  # ``from swint_cli import __version__``

# What each part of swint_cli may import of the others (the README's Layout section).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "switches": set(),  # the environment variables' table, for swint env and the README
    "layer_config": set(),  # SwinT's settings: read by the layer, recipes and models alike
    "runtime": set(),
    # runtime: the CPU thread count of the kernels; switches: the fast paths' off switches
    "nn": {"layer_config", "runtime", "switches"},
    "files": {"errors"},
    "environment": {ROOT, "errors", "nn", "runtime"},
    "recipe": {"errors", "layer_config"},  # no models or nn: reading recipes loads no Paddle
    "data": {"errors", "files", "recipe"},
    "models": {"errors", "files", "layer_config", "nn", "recipe", "runs"},  # runs: a run's weights
    "runs": {"errors", "files"},
    "train": {
        *("compare", "data", "environment", "errors", "files", "models", "nn", "recipe"),
        "runs",
    },
    "export": {ROOT, "data", "errors", "files", "models", "recipe", "runs"},
    "compare": {"errors", "files", "recipe", "runs"},
    "sweep": {"errors", "files", "recipe", "runs", "runtime"},
    "bench": {
        "environment",
        "errors",
        "files",
        "models",
        "nn",
        "recipe",
        "runs",
        "runtime",
        "train",
    },
    "cli": {
        *("bench", "compare", "data", "environment", "errors", "export", "models"),
        *("nn", "recipe", "runs", "runtime", "switches", "sweep", "train"),
    },
    "__init__": {"layer_config", "models", "nn", "runtime"},
    "__main__": {"cli", "runtime"},
}


def _part(path: Path) -> str:
    """The part of the package a file belongs to: its subpackage or top-level module."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _imported(path: Path) -> set[str]:
    """The parts of swint_cli that the module at ``path`` imports (its own part left out)."""
    package = ("swint_cli", *path.relative_to(PACKAGE).parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "swint_cli":
                continue
            target = parts[1] if len(parts) > 1 else ROOT
            found.add(ROOT if target.startswith("__version") else target)
    found.discard(_part(path))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_has_a_rule() -> None:
    assert {_part(path) for path in MODULES} == set(ALLOWED)


def test_imports_follow_the_layout() -> None:
    breaches = [
        f"{path.relative_to(PACKAGE)} imports {sorted(unexpected)}"
        for path in MODULES
        if (unexpected := _imported(path) - ALLOWED[_part(path)])
    ]
    assert not breaches, "; ".join(breaches)


def test_only_the_entry_point_imports_the_command_line() -> None:
    importers = {_part(path) for path in MODULES if "cli" in _imported(path)}
    assert importers == {"__main__"}


def test_the_layer_library_imports_only_its_config_the_runtime_hook_and_the_switches() -> None:
    nn_imports = set().union(*(_imported(p) for p in MODULES if _part(p) == "nn"))
    assert nn_imports == {"layer_config", "runtime", "switches"}


def test_reading_recipes_runs_and_sweeps_loads_no_paddle() -> None:
    """compare, sweep, recipe and runs in a fresh interpreter: Paddle stays unloaded (its
    import is most of the time ``swint compare`` would otherwise take)."""
    parts = ["compare.comparison", "sweep", "recipe", "runs", "cli"]
    imports = [f"import swint_cli.{part}" for part in parts]
    code = "; ".join([*imports, "import sys", "print(sorted(sys.modules))"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = done.stdout.strip().strip("[]").replace("'", "").split(", ")
    assert not [name for name in loaded if name == "paddle" or name.startswith("paddle.")]


def test_the_recipes_names_are_the_ones_the_code_builds() -> None:
    from swint_cli.models.registry import _FACTORIES, BACKBONES
    from swint_cli.nn.heads import HEADS
    from swint_cli.nn.precision import PRECISIONS
    from swint_cli.recipe import names

    assert set(_FACTORIES) == set(names.BACKBONE_TASKS)
    assert {b.name: b.task for b in BACKBONES} == names.BACKBONE_TASKS
    assert (names.HEADS, names.PRECISIONS) == (HEADS, PRECISIONS)


@pytest.mark.parametrize("args", [["compare", "--help"], ["train", "--help"], ["sweep", "--help"]])
def test_help_and_the_commands_without_paddle_code_leave_paddle_unloaded(args: list[str]) -> None:
    """The ``swint`` callback sets Paddle's thread count only for a command that runs Paddle
    in this process: ``--help`` and compare or sweep stay quick."""
    code = "\n".join(
        [
            "import sys",
            "from swint_cli.cli import app",
            f"sys.argv = ['swint', *{args!r}]",
            "try:",
            "    app()",
            "except SystemExit:",
            "    pass",
            "print('paddle' in sys.modules)",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"
