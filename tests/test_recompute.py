"""Activation recompute (``recompute: true``): the same gradients and random draws as
keeping the activations, in fp32 and bf16, alone and under DataParallel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
from assertions import bench_spec

from swint_cli import SwinT
from swint_cli.bench.runner import run_worker
from swint_cli.models import build_model
from swint_cli.nn import precision
from swint_cli.recipe import load_recipe

HERE = Path(__file__).parent
QUICKSTART = HERE.parent / "recipes" / "quickstart.yaml"


def _layer(recompute: bool) -> SwinT:
    paddle.seed(0)
    return SwinT(
        8,
        16,
        (6, 6),
        num_heads=2,
        window_size=3,
        downsample=True,
        dropout=0.2,
        attention_dropout=0.1,
        droppath=0.3,
        recompute=recompute,
    )


def _step(layer: SwinT, x: np.ndarray, chosen: str = "fp32") -> dict[str, np.ndarray]:
    """One training step from seed 5 in ``chosen`` precision (the backward outside its
    autocast, as a user's loop may run it): output, gradients, and the next random draw."""
    layer.train()
    inputs = paddle.to_tensor(x, stop_gradient=False)
    paddle.seed(5)
    with precision.autocast(chosen):
        y = layer(inputs)
    (y * y).sum().backward()
    found = {"out": y.numpy(), "input": inputs.grad.numpy(), "next_draw": paddle.rand([4]).numpy()}
    found.update({name: p.grad.numpy() for name, p in layer.named_parameters()})
    return found


def _inputs() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 8, 6, 6)).astype("float32")


@pytest.mark.parametrize("chosen", ["fp32", "bf16"])
def test_recompute_gives_the_gradients_of_kept_activations(chosen: str) -> None:
    """Dropout, attention dropout and drop path active: every gradient within 1e-6, and the
    random state after the step is where it would be without recompute."""
    kept, recomputed = (
        _step(_layer(False), _inputs(), chosen),
        _step(_layer(True), _inputs(), chosen),
    )
    assert kept.keys() == recomputed.keys()
    for name, value in kept.items():
        np.testing.assert_allclose(recomputed[name], value, rtol=1e-6, atol=1e-6, err_msg=name)
    dropped = _layer(False)
    dropped.blocks[1].drop_path.drop_prob = 0.0  # the check sees drop path: changing it shows
    changed = _step(dropped, _inputs(), chosen)["input"]
    assert np.abs(changed - kept["input"]).max() > 1e-3 * np.abs(kept["input"]).max()


def test_recompute_runs_the_blocks_forward_again_in_backward(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer = _layer(True)
    calls = []
    for block in layer.blocks:
        block.register_forward_post_hook(lambda *args: calls.append(1))
    y = layer(paddle.to_tensor(_inputs(), stop_gradient=False))
    assert len(calls) == 2
    y.mean().backward()
    assert len(calls) == 4
    layer.eval()
    with paddle.no_grad():
        layer(paddle.to_tensor(_inputs()))
    assert len(calls) == 6  # inference: once


def test_recipe_rule_recompute_reaches_every_swint() -> None:
    recipe = load_recipe(QUICKSTART)
    rule = recipe.model.replace[0].model_copy(update={"recompute": True})
    section = recipe.model.model_copy(update={"replace": [rule]})
    model, report = build_model(section, recipe.data.image_size)
    swints = [layer for layer in model.sublayers() if isinstance(layer, SwinT)]
    assert swints and len(swints) == report.swint_count
    assert all(layer.recompute for layer in swints)
    assert "recompute=True" in repr(swints[0])


def test_recompute_under_data_parallel_matches_one_process(tmp_path: Path) -> None:
    """Two CPU ranks, each with half the batch and its own drop-path draws, average the
    gradients of a recomputed SwinT to what one process computes for the same draws."""
    launch = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2"]
    script = HERE / "recompute_data_parallel.py"
    args = [*launch, "--log_dir", str(tmp_path / "log"), str(script), str(tmp_path)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "log").glob("*")) if p.is_file())
    assert done.returncode == 0, (done.stderr + logs)[-3000:]
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in (0, 1)]
    x = np.random.default_rng(1).standard_normal((4, 8, 4, 4)).astype("float32")
    expected: dict[str, np.ndarray] = {}
    for rank in (0, 1):
        paddle.seed(0)
        layer = SwinT(8, 8, (4, 4), num_heads=2, window_size=2, droppath=0.2)
        paddle.seed(10 + rank)
        layer(paddle.to_tensor(x[2 * rank : 2 * rank + 2])).square().mean().backward()
        for name, p in layer.named_parameters():
            expected[name] = expected.get(name, 0) + p.grad.numpy() / 2
    for name, value in expected.items():
        for rank in ranks:
            np.testing.assert_allclose(rank[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def _peak_mb(recompute: bool) -> float:
    """``swint bench``'s peak memory of a SwinT (C64, 56x56, batch 8) measured in a worker."""
    spec = bench_spec(
        "layer",
        "SwinT",
        downsample=False,
        in_channels=64,
        out_channels=64,
        heads=2,
        window_size=7,
        precision="fp32",
        recompute=recompute,
        batch_size=8,
        resolution=56,
        repeat=1,
        warmup=0,
    )
    result = run_worker(spec)
    assert result["status"] == "ok", result
    return float(result["peak_mem_mb"])


@pytest.mark.skipif(
    not hasattr(paddle.base.core, "host_memory_stat_reset_peak_value"),
    reason="Paddle 2.6 cannot reset its allocator's peak: the bench reads the peak RSS, "
    "which also holds what glibc keeps cached",
)
def test_recompute_lowers_the_peak_memory_bench_reports() -> None:
    """The two blocks keep 112 MB of activations each here (by hand: 6.4 MB per token
    tensor, 19.3 for q/k/v, 9.8 for the attention, 25.7 per MLP hidden tensor; 5 token
    tensors, q/k/v, attention and 2 hidden tensors per block); recomputed, one block's are
    alive at a time: the training step's peak, as ``swint bench`` reports it, drops by more
    than 80 MB."""
    kept, recomputed = _peak_mb(False), _peak_mb(True)
    assert kept > 224
    assert kept - recomputed > 80
