"""The fast paths' one owner: which path runs, what each switch turns off, overrides."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import paddle
import pytest
from conftest import skip_unless_kernels_built

from swint_cli.nn.kernels import backend
from swint_cli.switches import SWITCHES


@pytest.fixture
def every_path() -> None:
    """Skip where oneDNN's convolutions (and so every path below them) cannot run."""
    skip_unless_kernels_built()
    if not backend.enabled("onednn_conv"):
        pytest.skip(str(backend.unavailable("onednn_conv")))


def test_a_path_runs_only_on_the_paths_it_requires(every_path: None) -> None:
    with backend.override(kernels=False):
        assert not any(backend.enabled(p) for p in ("kernels", "onednn", "onednn_conv", "bf16"))
        assert backend.unavailable("onednn_conv") == "compiled CPU kernels off"
        assert backend.enabled("custom_backward")  # needs no kernels
    with backend.override(onednn=False):
        assert backend.enabled("kernels")
        assert not any(backend.enabled(p) for p in ("onednn", "onednn_conv", "bf16"))
        assert backend.unavailable("bf16") == "oneDNN GEMMs off"
    with backend.override(onednn_conv=False):
        assert backend.enabled("onednn") and not backend.enabled("onednn_conv")
    assert backend.enabled("onednn_conv")  # each override restored on leaving


def test_enabled_with_tensors_wants_float32_cpu_tensors_in_dynamic_mode(every_path: None) -> None:
    x = paddle.randn([2, 3])
    assert backend.enabled("kernels", x)
    assert not backend.enabled("kernels", x.astype("float64"))
    assert not backend.enabled("kernels", x, paddle.ones([2], dtype="int64"))
    paddle.enable_static()
    try:
        assert not backend.enabled("kernels", x)
    finally:
        paddle.disable_static()


def test_override_refuses_an_unknown_path_and_restores_after_an_error() -> None:
    unknown = "unknown fast path 'onedn'; expected one of kernels"
    with pytest.raises(ValueError, match=unknown), backend.override(onedn=False):
        pass
    before = backend.enabled("custom_backward")
    with pytest.raises(RuntimeError), backend.override(custom_backward=not before):
        assert backend.enabled("custom_backward") is not before
        raise RuntimeError
    assert backend.enabled("custom_backward") is before


def test_every_fast_path_switch_is_in_the_switch_table() -> None:
    named = {path.switch for path in backend.PATHS.values() if path.switch}
    assert named <= {switch.name for switch in SWITCHES}


@pytest.mark.parametrize(
    ("variable", "off"),
    [
        ("SWINT_ONEDNN", {"onednn_gemms", "onednn_convolutions"}),
        ("SWINT_ONEDNN_CONV", {"onednn_convolutions"}),
        ("SWINT_CPU_KERNELS", {"cpu_kernels", "onednn_gemms", "onednn_convolutions"}),
    ],
)
def test_a_switch_turns_off_its_path_and_those_on_it_read_once_at_start(
    every_path: None, variable: str, off: set[str]
) -> None:
    """In a process started with ``VARIABLE=0``: the status says ``off`` for exactly the
    paths on it, bf16 names the switch, and setting the variable later changes nothing."""
    code = (
        "import json, os\n"
        "from swint_cli.nn.kernels import backend\n"
        f"os.environ[{variable!r}] = '1'\n"
        "print(json.dumps(backend.status()))\n"
    )
    env = {**os.environ, variable: "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    status = json.loads(done.stdout.splitlines()[-1])
    assert {key for key, value in status.items() if value == "off"} == off
    if variable != "SWINT_ONEDNN_CONV":
        assert status["bf16_products"].endswith(f" off ({variable}=0)")
    assert "swint:" not in done.stderr  # switched off is not a failure: no notice
