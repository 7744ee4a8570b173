"""Process CPU settings: MKL's code path follows the CPU vendor, a user's choice is kept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from swint_cli.runtime import choose_mkl_cpu_type


def vendor_of_this_cpu() -> str:
    """``vendor_id`` from /proc/cpuinfo, read here independently of swint."""
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        return next(line.split(":")[1].strip() for line in info if line.startswith("vendor_id"))


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [("AuthenticAMD", "5"), ("GenuineIntel", None), ("HygonGenuine", None), ("", None)],
)
def test_mkl_is_sent_to_its_avx2_path_on_amd_only(vendor: str, expected: str | None) -> None:
    value, reason = choose_mkl_cpu_type(vendor, None)
    assert value == expected
    assert (vendor or "unknown") in reason


@pytest.mark.parametrize("vendor", ["AuthenticAMD", "GenuineIntel"])
def test_a_value_the_user_set_is_kept_on_any_vendor(vendor: str) -> None:
    assert choose_mkl_cpu_type(vendor, "2") == ("2", "set before swint started")


def env_table(vendor: str | None, **environ: str) -> dict[str, str]:
    """``swint env`` run as the console script does, in a fresh process whose CPU vendor
    reads as ``vendor`` (None: the real one); its table as a dict."""
    fake = (
        ""
        if vendor is None
        else f"real = runtime.cpu_info\n"
        f"runtime.cpu_info = lambda f: {vendor!r} if f == 'vendor_id' else real(f)\n"
    )
    code = (
        "import sys\nimport swint_cli.runtime as runtime\n"
        f"{fake}"
        "from swint_cli.__main__ import main\nsys.argv = ['swint', 'env']\nmain()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MKL_DEBUG_CPU_TYPE"} | environ
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    rows: dict[str, str] = {}
    key = ""
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 2:
            key = cells[1] or key  # a long value wraps onto rows with an empty key
            rows[key] = f"{rows[key]} {cells[2]}" if not cells[1] else cells[2]
    return rows


@pytest.mark.parametrize(("vendor", "expected"), [("AuthenticAMD", "5"), ("GenuineIntel", "None")])
def test_swint_env_reports_the_choice_made_for_a_faked_vendor(vendor: str, expected: str) -> None:
    table = env_table(vendor)
    assert table["mkl_debug_cpu_type"] == expected
    assert table["mkl_choice"].startswith(f"{vendor} CPU: ")
    assert table["mkl_took_effect"] == str(expected != "None")


def test_the_console_script_follows_this_machines_vendor() -> None:
    expected = "5" if vendor_of_this_cpu() == "AuthenticAMD" else "None"
    assert env_table(None)["mkl_debug_cpu_type"] == expected


def test_a_user_mkl_setting_is_kept_and_said_so() -> None:
    table = env_table("AuthenticAMD", MKL_DEBUG_CPU_TYPE="2")
    assert table["mkl_debug_cpu_type"] == "2"
    assert table["mkl_choice"] == "set before swint started"
