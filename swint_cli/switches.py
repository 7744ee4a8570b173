"""The environment variables that change what swint does, in one table: name, default and
effect, for ``swint env`` (each with its value here) and the README's table of switches."""

from __future__ import annotations

import os
from typing import NamedTuple


class Switch(NamedTuple):
    name: str
    default: str
    effect: str
    tests_only: bool = False


SWITCHES = (
    Switch(
        "SWINT_CPU_KERNELS",
        "1",
        "0: no compiled C kernels (GELU, softmax, LayerNorm, bias adds, layouts), and with them "
        "no oneDNN products or convolutions: Paddle's ops throughout",
    ),
    Switch(
        "SWINT_ONEDNN",
        "1",
        "0: no oneDNN matrix products or convolutions (the compiled kernels stay); no bf16",
    ),
    Switch("SWINT_ONEDNN_CONV", "1", "0: Paddle's conv2d instead of oneDNN's convolutions"),
    Switch(
        "SWINT_CACHE_DIR",
        "$XDG_CACHE_HOME/swint or ~/.cache/swint",
        "where the compiled kernels are built and kept",
    ),
    Switch("CC", "gcc", "the C compiler that builds the kernels"),
    Switch(
        "MKL_DEBUG_CPU_TYPE",
        "5 on AMD CPUs, else unset",
        "MKL's code path; swint sets it only when you have not (docs/speed.md)",
    ),
    Switch(
        "GLOG_minloglevel",
        "2 (set by swint unless given, or swint --verbose)",
        "Paddle's own log lines: 0 shows INFO, 1 WARNING, 2 only errors",
    ),
    Switch("SWINT_TEST_THREADS", "all cores", "the tests' CPU threads (1: Paddle's own)", True),
    Switch("SWINT_REQUIRE_KERNELS", "unset", "1: the compiled-kernel tests fail, not skip", True),
    Switch("SWINT_REQUIRE_CIFAR", "unset", "1: the mini CIFAR-10 tests fail, not skip", True),
    Switch("SWINT_REQUIRE_ONNX", "unset", "1: the ONNX export test fails, not skips", True),
)


def switched_off(name: str) -> bool:
    """True when the on/off switch ``name`` is set to 0 (anything else leaves it on)."""
    return os.environ.get(name, "1") == "0"


def switch_values() -> dict[str, str]:
    """Each switch's value in this process, ``default`` where it is not set."""
    return {switch.name: os.environ.get(switch.name) or "default" for switch in SWITCHES}
