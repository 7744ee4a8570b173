"""The README and docs/ show commands that exist: every ``swint ...`` line in their shell
blocks names a real command and only options its ``--help`` lists."""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swint_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
runner = CliRunner()


def shell_lines(page: Path) -> list[tuple[int, str]]:
    """``(line number, command)`` of every ``swint`` command in the page's ``bash`` blocks,
    continuation lines (``\\``) joined."""
    found, block, pending = [], False, ""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            block = line.strip() in ("```bash", "```sh") and not block
            continue
        if not block:
            continue
        pending += line.rstrip("\\").strip() + " "
        if line.endswith("\\"):
            continue
        if pending.startswith("swint "):
            found.append((number, pending.strip()))
        pending = ""
    return found


COMMANDS = [(page, number, line) for page in PAGES for number, line in shell_lines(page)]


@cache
def help_text(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def options(tokens: list[str]) -> list[str]:
    """The ``--long-options`` among ``tokens`` (without ``=value``)."""
    option = re.compile(r"--[a-z][a-z0-9-]*(=.*)?")
    return [token.split("=", 1)[0] for token in tokens if option.fullmatch(token)]


def test_the_pages_show_commands() -> None:
    assert len(COMMANDS) > 20  # the reader below finds them


@pytest.mark.parametrize(
    ("page", "number", "line"),
    COMMANDS,
    ids=[f"{page.name}:{number}" for page, number, _ in COMMANDS],
)
def test_every_swint_command_line_names_a_command_and_its_options(
    page: Path, number: int, line: str
) -> None:
    tokens = shlex.split(line, comments=True)[1:]
    first = 0
    while first < len(tokens) and tokens[first].startswith("-"):  # swint's own options
        first += 2 if tokens[first] == "--threads" else 1
    global_options, command, rest = tokens[:first], tokens[first], tokens[first + 1 :]
    for option in options(global_options):
        assert option in help_text(), f"{page.name}:{number}: swint {option} does not exist"
    text = help_text(command)
    for option in options(rest):
        assert option in text, f"{page.name}:{number}: swint {command} has no {option}"


def test_every_link_between_the_pages_leads_to_a_file() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken


def test_the_readmes_signature_is_the_layers_and_holds_every_config_field() -> None:
    """The README's ``SwinT(...)`` signature names the constructor's parameters with their
    defaults, in order; every :class:`SwinTConfig` field is among them, default for default."""
    import ast
    import dataclasses
    import inspect

    from swint_cli import SwinT, SwinTConfig

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"^SwinT\((.*?)\)$", text, flags=re.M | re.S)
    assert shown, "the README shows SwinT's signature"
    call = ast.parse(f"f({shown.group(1)})").body[0].value  # type: ignore[attr-defined]
    readme = [(arg.id, inspect.Parameter.empty) for arg in call.args]
    readme += [(kw.arg, ast.literal_eval(kw.value)) for kw in call.keywords]
    parameters = list(inspect.signature(SwinT.__init__).parameters.values())[1:]
    assert readme == [(p.name, p.default) for p in parameters]
    defaults = {p.name: p.default for p in parameters}
    for spec in dataclasses.fields(SwinTConfig):
        assert defaults[spec.name] == spec.default, spec.name


def test_the_readmes_switch_table_is_the_one_swint_env_shows() -> None:
    from swint_cli.switches import SWITCHES

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Za-z_]+)` \| (.*?) \| (.*?) \|$", text, flags=re.M)
    expected = [
        (s.name, s.default, s.effect + (" (tests)" if s.tests_only else "")) for s in SWITCHES
    ]
    assert rows == expected
    shown = runner.invoke(app, ["env"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    for switch in SWITCHES:
        assert switch.name in shown.output
