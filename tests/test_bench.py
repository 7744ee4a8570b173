"""swint bench: layer measurements in worker processes, a model, OOM retries, defaults.

The analytic SwinT FLOP count the layer rows use is checked against a hand count in
tests/test_swint_layer.py::test_analytic_flops_match_hand_count.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import paddle
import pandas as pd
import pytest
from assertions import bench_spec
from typer.testing import CliRunner

from swint_cli.bench import runner as bench_runner
from swint_cli.bench import setup as bench_setup
from swint_cli.bench.layer_bench import paddle_conv_flops
from swint_cli.bench.model_bench import model_subject
from swint_cli.bench.plan import BenchOptions, default_batch, parse_channels, resolve_model
from swint_cli.bench.runner import (
    BENCH_COLUMNS,
    measure_with_retry,
    run_worker,
    write_csv,
)
from swint_cli.bench.setup import set_up_bench, write_environment
from swint_cli.bench.timing import time_steps
from swint_cli.bench.worker import run_spec
from swint_cli.cli import app
from swint_cli.errors import UserError
from swint_cli.nn.kernels import backend
from swint_cli.recipe import RecipeError, dump_recipe, load_recipe
from swint_cli.runs import TimeSummary, summarize_times

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
POSITIVE = (
    "fwd_ms_median",
    "fwd_ms_p10",
    "fwd_ms_p90",
    "fwd_images_per_s",
    "train_ms_median",
    "train_ms_p10",
    "train_ms_p90",
    "train_images_per_s",
    "params",
    "gflops",
    "achieved_gflops_per_s",
    "matmul_gflops_per_s",
    "matmul_fraction",
)

runner = CliRunner()
# Paddle 3 can reset its host allocator's peak; 2.6 cannot, and the bench reads RSS there.
ALLOCATOR_PEAK = hasattr(paddle.base.core, "host_memory_stat_reset_peak_value")
CPU_MEMORY_SOURCE = "cpu paddle allocator peak growth" if ALLOCATOR_PEAK else "cpu peak RSS growth"


def _swin_pair(tokens: int, dim: int, window: int) -> int:
    """Two Swin blocks, counted as in the paper: 4 N C^2 + 2 M^2 N C + MLP 2 N C (4C) each."""
    return 2 * (4 * tokens * dim**2 + 2 * window**2 * tokens * dim + 2 * tokens * dim * 4 * dim)


# The quickstart (SmallCNN at 32x32, stage1.conv2 and stage2.conv2 as SwinT, window 4), by
# hand: each convolution k*k*C_in*C_out*H_out*W_out, each SwinT its two blocks, the head.
QUICKSTART_MACS = (
    9 * 3 * 32 * 32 * 32  # stem, 32x32
    + 9 * 32 * 64 * 16 * 16  # stage1.conv1, stride 2
    + _swin_pair(16 * 16, 64, 4)  # stage1.conv2
    + 9 * 64 * 128 * 8 * 8  # stage2.conv1, stride 2
    + _swin_pair(8 * 8, 128, 4)  # stage2.conv2
    + 9 * 128 * 256 * 4 * 4  # stage3.conv1, stride 2
    + 9 * 256 * 256 * 4 * 4  # stage3.conv2
    + 256 * 10  # fc
)


def test_layer_bench_writes_csv_env_and_ratio_table(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["--channels", "8:8", "--heads", "2", "--window-size", "4", "--device", "cpu"]
    args += ["--resolution", "64", "--repeat", "2", "--warmup", "1", "--out", str(out)]
    result = runner.invoke(app, ["--threads", "1", "bench", *args])
    assert result.exit_code == 0, result.output
    assert "batch 6 chosen for CPU at 64; use --batch-size" in result.output
    assert "SwinT/" in result.output and "--models" in result.output

    with open(out / "bench.csv", encoding="utf-8", newline="") as table:
        reader = csv.DictReader(table)
        assert tuple(reader.fieldnames or ()) == BENCH_COLUMNS
        rows = list(reader)
    assert [(r["name"], r["downsample"]) for r in rows] == [
        ("SwinT", "False"),
        ("Conv2D", "False"),
        ("SwinT", "True"),
        ("Conv2D", "True"),
    ]
    for row in rows:
        assert (row["status"], row["batch_size"], row["threads"]) == ("ok", "6", "1")
        for column in POSITIVE:
            assert float(row[column]) > 0, column
        assert float(row["fwd_ms_p10"]) <= float(row["fwd_ms_median"]) <= float(row["fwd_ms_p90"])
        assert float(row["peak_mem_mb"]) >= 0 and row["mem_source"] == CPU_MEMORY_SOURCE
    swint, conv, swint_down, conv_down = rows
    blocks = _swin_pair(64 * 64, 8, 4)  # merging: 32*32 tokens of 4C -> 8
    assert float(swint["gflops"]) == pytest.approx(blocks / 1e9)
    assert float(swint_down["gflops"]) == pytest.approx((blocks + 32 * 32 * 4 * 8 * 8) / 1e9)
    # Paddle's counter adds one op per output for the bias; where it is broken (NumPy >= 2.4)
    # the bench falls back to the plain formula and says so.
    paddle_counts = paddle_conv_flops(paddle.nn.Conv2D(8, 8, 3, padding=1), 8) is not None
    bias = 1 if paddle_counts else 0
    assert float(conv["gflops"]) == pytest.approx((9 * 8 + bias) * 8 * 64 * 64 / 1e9)
    assert float(conv_down["gflops"]) == pytest.approx((9 * 8 + bias) * 8 * 32 * 32 / 1e9)
    conv_source = "paddle.flops" if paddle_counts else "conv formula"
    assert (swint["flops_source"], conv["flops_source"]) == ("SwinT.flops", conv_source)

    env = json.loads((out / "env.json").read_text())
    assert env["threads"] == 1 and env["device"] == "cpu" and env["options"]["batch_size"] == 6


def test_model_bench_in_a_worker() -> None:
    recipe = resolve_model("quickstart", 32, (RECIPES,))
    spec = bench_spec(
        "model", "quickstart", recipe=str(recipe), batch_size=2, resolution=32, repeat=2, warmup=1
    )
    result = run_worker(spec)
    assert result["status"] == "ok", result
    assert (result["backbone"], result["swint_slots"], result["threads"]) == ("small_cnn", 2, 1)
    assert result["gflops"] == pytest.approx(QUICKSTART_MACS / 1e9, rel=1e-9)
    assert result["flops_source"] == "model_flops"
    for column in POSITIVE:
        assert result[column] > 0, column


def test_out_of_memory_is_recorded_and_retried_at_half_the_batch(tmp_path: Path) -> None:
    def measurer(spec: dict) -> dict:
        if spec["batch_size"] > 2:
            raise MemoryError("fake: does not fit")
        return {"fwd_ms_median": 1.0}

    def run(spec: dict) -> dict:
        return run_spec(spec, measurer)

    rows = measure_with_retry({"level": "layer", "name": "SwinT", "batch_size": 8}, run)
    assert [(r["batch_size"], r["status"]) for r in rows] == [
        (8, "oom at batch 8"),
        (4, "oom at batch 4"),
        (2, "ok"),
    ]
    assert rows[0]["error"] == "MemoryError: fake: does not fit"

    never = measure_with_retry({"name": "x", "batch_size": 3}, lambda s: {"status": "oom"})
    assert [r["status"] for r in never] == ["oom at batch 3", "oom at batch 1"]

    write_csv(tmp_path / "bench.csv", rows)
    with open(tmp_path / "bench.csv", encoding="utf-8", newline="") as table:
        assert [r["status"] for r in csv.DictReader(table)] == [r["status"] for r in rows]


def test_worker_classifies_errors() -> None:
    def raising(exc: Exception):
        def measurer(spec: dict) -> dict:
            raise exc

        return measurer

    gpu_oom = RuntimeError("\n\nC++ Traceback\n(ResourceExhausted) Out of memory error on GPU 0")
    assert run_spec({}, raising(gpu_oom)) == {
        "status": "oom",
        "error": "RuntimeError: (ResourceExhausted) Out of memory error on GPU 0",
    }
    assert run_spec({}, raising(ValueError("bad\nmore"))) == {
        "status": "failed",
        "error": "ValueError: bad",
    }


def test_defaults_channels_and_model_names() -> None:
    assert (default_batch("cpu", 224), default_batch("cpu", 56), default_batch("gpu", 224)) == (
        1,
        8,
        8,
    )
    assert parse_channels("96:192") == (96, 192) and parse_channels("64") == (64, 64)
    for bad in ("96:", "a:b", "0:8", "1:2:3"):
        with pytest.raises(ValueError):
            parse_channels(bad)
    assert resolve_model("resnet50", 224, (RECIPES,)).name == "resnet50-224.yaml"
    assert resolve_model("resnet50", 32, (RECIPES,)).name == "resnet50-32.yaml"
    assert resolve_model("swinresnet", 224, (RECIPES,)).name == "swinresnet.yaml"
    with pytest.raises(RecipeError, match="no recipe for 'resnet9'"):
        resolve_model("resnet9", 224, (RECIPES,))


def test_a_model_is_measured_under_the_name_of_the_recipe_it_found() -> None:
    """At 64 there is no resnet50.yaml nor resnet50-64.yaml: resnet50 takes the first
    resnet50-*.yaml, and the measurement (announced, tabled, in bench.csv) bears its name."""
    entries = ["resnet50", "swinresnet", str(RECIPES / "resnet50-32.yaml")]
    setup = set_up_bench(
        resolution=64,
        batch_size=2,
        channels=(8, 8),
        heads=None,
        window_size=4,
        device="cpu",
        amp=False,
        repeat=1,
        warmup=0,
        models=entries,
        runtime={},
    )
    specs = [spec for spec in setup.specs() if spec["level"] == "model"]
    models = [(spec["name"], Path(spec["recipe"]).name) for spec in specs]
    assert models == [
        ("resnet50-224", "resnet50-224.yaml"),
        ("swinresnet", "swinresnet.yaml"),
        ("resnet50-32", "resnet50-32.yaml"),
    ]


def test_timing_loop_synchronises_and_summarises() -> None:
    calls: list[str] = []
    times = time_steps(lambda: calls.append("step"), 3, 2, lambda: calls.append("sync"))
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert calls == ["step", "step", "sync"] + ["step", "sync"] * 3
    assert summarize_times([1.0, 2.0, 3.0, 4.0, 5.0]) == TimeSummary(median=3.0, p10=1.4, p90=4.6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channels", "8:x"], "expected IN:OUT"),
        (["--heads", "5"], "5 heads do not divide 96 channels"),
        (["--device", "tpu"], "expected auto, cpu or gpu"),
        (["--models", "resnet9"], "error: --models: no recipe for 'resnet9'"),
        (["--precision", "fp16"], "expected fp32, bf16 or fp32,bf16, got 'fp16'"),
    ],
)
def test_bad_options_exit_2_before_measuring(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # unwrap rich's box
    assert not (tmp_path / "out").exists()


def test_segmentation_model_bench_trains_on_per_pixel_labels() -> None:
    recipe = resolve_model("swin-unet", 16, (RECIPES,))
    spec = {"recipe": str(recipe), "resolution": 16, "batch_size": 2, "amp": False}
    subject = model_subject(spec)
    assert subject.details == {"backbone": "unet", "swint_slots": 6, "precision": "fp32"}
    assert subject.infer().shape == [2, 11, 16, 16]
    before = [p.numpy().copy() for p in subject.module.parameters()]
    subject.train()  # the task's per-pixel loss, backward and the recipe's optimizer step
    after = [p.numpy() for p in subject.module.parameters()]
    assert any((a != b).any() for a, b in zip(after, before, strict=True))


def test_detection_model_bench_trains_the_detector_on_random_boxes() -> None:
    recipe = resolve_model("detection-quickstart", 32, (RECIPES,))
    spec = {"recipe": str(recipe), "resolution": 32, "batch_size": 2, "amp": False}
    subject = model_subject(spec)
    assert subject.details == {"backbone": "resnet18", "swint_slots": 2, "precision": "fp32"}
    logits, codes, centerness = subject.infer()
    locations = len(subject.module.locations.points)
    assert logits.shape == [2, locations, 5] and codes.shape == [2, locations, 4]
    assert centerness.shape == [2, locations]
    head = subject.module.head.class_logits.weight
    before = head.numpy().copy()
    subject.train()  # FCOS's loss on random boxes, backward and the recipe's optimizer step
    assert (head.numpy() != before).any()


Parameters = dict[str, np.ndarray]


def _one_bench_step(recipe: Path, overrides: list[str]) -> tuple[Parameters, Parameters]:
    """The trained parameters (not BatchNorm's running statistics) of the quickstart model
    (seeded, at 32x32, batch 2) before and after one train step as ``swint bench`` times
    it, for the quickstart recipe with ``overrides``, written to ``recipe``."""
    recipe.write_text(dump_recipe(load_recipe(RECIPES / "quickstart.yaml", overrides)))
    paddle.seed(0)
    np.random.seed(0)
    spec = {"recipe": str(recipe), "resolution": 32, "batch_size": 2, "amp": False}
    subject = model_subject(spec)
    subject.module.train()
    trained = [(name, p) for name, p in subject.module.named_parameters() if not p.stop_gradient]
    before = {name: p.numpy().copy() for name, p in trained}
    subject.train()
    after = {name: p.numpy().copy() for name, p in trained}
    return before, after


def test_model_bench_steps_with_the_recipes_adamw(tmp_path: Path) -> None:
    """AdamW's first step moves every parameter by lr * g / (|g| + eps), about lr wherever
    the gradient is not tiny (m = (1 - b1) g and v = (1 - b2) g^2, bias-corrected to g and
    g^2); a Momentum(0.01) step would move it by 0.01 g instead."""
    lr = 2.5e-4
    overrides = [
        "training.optimizer.name=adamw",
        f"training.optimizer.learning_rate={lr}",
        "training.optimizer.weight_decay=0",
        "training.clip_grad_norm=0.5",  # scales g: the first step's sign does not change
    ]
    before, after = _one_bench_step(tmp_path / "adamw.yaml", overrides)
    moved = np.concatenate([np.abs(after[n] - before[n]).ravel() for n in before])
    assert moved.max() <= lr * (1 + 1e-3)
    assert np.median(moved) == pytest.approx(lr, rel=1e-2)


def test_model_bench_clips_gradients_as_the_recipe_says(tmp_path: Path) -> None:
    """SGD with clip_grad_norm c: the step is lr * g * c / ||g|| (when ||g|| > c), so the
    parameters move by lr * c in global L2 norm."""
    lr, clip = 0.5, 1e-3
    overrides = [
        "training.optimizer.name=sgd",
        f"training.optimizer.learning_rate={lr}",
        "training.optimizer.weight_decay=0",
        f"training.clip_grad_norm={clip}",
    ]
    before, after = _one_bench_step(tmp_path / "clipped.yaml", overrides)
    squares = sum(float(((after[n] - before[n]).astype(np.float64) ** 2).sum()) for n in before)
    assert np.sqrt(squares) == pytest.approx(lr * clip, rel=1e-3)


def test_model_bench_decays_the_recipes_decay_group_only(tmp_path: Path) -> None:
    """SGD with L2 decay w steps by lr * (g + w p): against the same step without decay, a
    parameter moves lr * w * p further when it decays, and not at all further when it is in
    the no-decay group (``decay: weights``: 1-D parameters, relative-position bias tables)."""
    lr, decay = 0.1, 0.5
    common = ["training.optimizer.name=sgd", f"training.optimizer.learning_rate={lr}"]
    common.append("training.optimizer.decay=weights")
    start, plain = _one_bench_step(
        tmp_path / "plain.yaml", [*common, "training.optimizer.weight_decay=0"]
    )
    same, decayed = _one_bench_step(
        tmp_path / "decayed.yaml", [*common, f"training.optimizer.weight_decay={decay}"]
    )
    kept = [n for n in start if start[n].ndim == 1 or n.endswith("relative_position_bias_table")]
    assert kept and len(kept) < len(start)
    for name, value in start.items():
        np.testing.assert_array_equal(same[name], value)  # the same model and batch
        expected = np.zeros_like(value) if name in kept else lr * decay * value
        np.testing.assert_allclose(plain[name] - decayed[name], expected, atol=1e-6, err_msg=name)


def test_bench_setup_resolves_the_command_lines_choices(tmp_path: Path) -> None:
    quickstart = RECIPES / "quickstart.yaml"
    choices = {
        "resolution": 64,
        "batch_size": None,
        "channels": (8, 16),
        "heads": 2,
        "window_size": 4,
        "device": "cpu",
        "amp": True,
        "repeat": 3,
        "warmup": 1,
        "models": [str(quickstart)],
        "runtime": {"threads": 3, "malloc_tuned": False},
    }
    setup = set_up_bench(**choices)
    # batch: at most 8 images of 56x56 pixels, 8 * 56 * 56 // (64 * 64) = 6 at 64x64
    assert setup.options == BenchOptions(
        resolution=64,
        batch_size=6,
        in_channels=8,
        out_channels=16,
        heads=2,
        window_size=4,
        device="cpu",
        amp=False,
        repeat=3,
        warmup=1,
        threads=3,
        malloc=False,
    )
    assert setup.notes == [
        "batch 6 chosen for CPU at 64; use --batch-size",
        "--amp is ignored on CPU",
    ]
    assert setup.models == [("quickstart", quickstart)]
    levels = [(spec["level"], spec["name"]) for spec in setup.specs()]
    assert levels == [*[("layer", "SwinT"), ("layer", "Conv2D")] * 2, ("model", "quickstart")]

    given = set_up_bench(**{**choices, "batch_size": 4, "amp": False, "runtime": {}})
    assert (given.options.batch_size, given.notes) == (4, [])
    assert (given.options.threads, given.options.malloc) == (None, True)

    environment = write_environment(tmp_path, setup)
    assert json.loads((tmp_path / "env.json").read_text()) == environment
    assert environment["options"]["batch_size"] == 6 and environment["threads"] == 3
    assert environment["models"] == {"quickstart": str(quickstart)}
    assert [path.name for path in tmp_path.iterdir()] == ["env.json"]  # no temporary left


def test_an_interrupted_bench_exits_130_keeping_what_it_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the second measurement: the first is in bench.csv, env.json is there."""
    measured: list[str] = []

    def worker(spec: dict) -> dict:
        if measured:
            raise KeyboardInterrupt
        measured.append(spec["name"])
        return {"status": "ok", "fwd_ms_median": 1.5}

    monkeypatch.setattr(bench_runner, "run_worker", worker)
    out = tmp_path / "bench"
    args = ["--device", "cpu", "--resolution", "16", "--channels", "8:8", "--heads", "2"]
    result = runner.invoke(app, ["bench", *args, "--window-size", "4", "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert f"interrupted; the measurements so far are in {out / 'bench.csv'}" in result.output
    with open(out / "bench.csv", encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table))
    assert [(r["name"], r["status"], r["fwd_ms_median"]) for r in rows] == [("SwinT", "ok", "1.5")]
    assert json.loads((out / "env.json").read_text())["options"]["resolution"] == 16
    assert sorted(path.name for path in out.iterdir()) == ["bench.csv", "env.json"]


def test_bench_measures_each_precision_and_recompute_setting(tmp_path: Path) -> None:
    """``--precision fp32,bf16 --recompute``: each SwinT in every setting, the Conv2D once per
    stride, the model with SwinTs in every setting, one layer table per SwinT setting."""
    out = tmp_path / "bench"
    args = ["--channels", "8:8", "--heads", "2", "--window-size", "4", "--device", "cpu"]
    args += ["--resolution", "8", "--batch-size", "2", "--repeat", "1", "--warmup", "0"]
    args += ["--precision", "fp32,bf16", "--recompute", "--models", "quickstart"]
    result = runner.invoke(app, ["--threads", "1", "bench", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "bench.csv", dtype=str, keep_default_na=False)
    bf16 = "fp32" if backend.unavailable("bf16") else "bf16"  # as run on this CPU
    settings = [("fp32", "False"), ("fp32", "True"), (bf16, "False"), (bf16, "True")]
    layers = rows[rows["level"] == "layer"]
    for downsample in ("False", "True"):
        stride = layers[layers["downsample"] == downsample]
        swint = stride[stride["name"] == "SwinT"]
        assert list(zip(swint["precision"], swint["recompute"], strict=True)) == settings
        conv = stride[stride["name"] == "Conv2D"]
        assert list(zip(conv["precision"], conv["recompute"], strict=True)) == [("fp32", "False")]
    models = rows[rows["level"] == "model"]
    assert list(zip(models["precision"], models["recompute"], strict=True)) == settings
    assert (rows["status"] == "ok").all() and (rows["peak_mem_mb"].astype(float) >= 0).all()
    text = " ".join(result.output.split())
    for title in ("SwinT vs Conv2D", "SwinT recompute vs", "SwinT bf16 vs", "bf16 recompute vs"):
        assert title in text or bf16 == "fp32", title


def test_bench_measures_each_model_also_updating_in_backward(tmp_path: Path) -> None:
    """``--update-in-backward``: each model twice, the second row with ``in_backward`` and
    its own column. Freed as soon as they are applied, the gradients (4 bytes for each of
    the model's parameters) no longer add up in the step's peak: it drops by more than half
    of them (where Paddle's allocator reports the peak; 2.6 reads the peak RSS)."""
    out = tmp_path / "bench"
    args = ["--channels", "8:8", "--heads", "2", "--window-size", "4", "--device", "cpu"]
    args += ["--resolution", "16", "--batch-size", "2", "--repeat", "1", "--warmup", "0"]
    args += ["--models", "quickstart", "--update-in-backward"]
    result = runner.invoke(app, ["--threads", "1", "bench", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "bench.csv")
    models = rows[rows["level"] == "model"]
    assert list(models["in_backward"]) == [False, True]
    assert "quickstart update in backward" in " ".join(result.output.split())
    if hasattr(paddle.base.core, "host_memory_stat_reset_peak_value"):
        kept, freed = models["peak_mem_mb"]
        gradients_mb = 4 * float(models["params"].iloc[0]) / 2**20
        assert kept - freed > gradients_mb / 2


def test_bench_refuses_the_update_in_backward_for_a_clipping_recipe(tmp_path: Path) -> None:
    recipe = tmp_path / "clipped.yaml"
    recipe.write_text("training:\n  clip_grad_norm: 1.0\n", encoding="utf-8")
    args = ["--device", "cpu", "--models", str(recipe), "--update-in-backward"]
    result = runner.invoke(app, ["bench", *args, "--out", str(tmp_path / "bench")])
    assert result.exit_code != 0
    assert "--update-in-backward: " in result.output and "clip_grad_norm" in result.output
    assert not (tmp_path / "bench").exists()


def test_bench_refuses_the_update_in_backward_under_gpu_amp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loss scaling unscales every gradient after backward, too late for updates made in it."""
    monkeypatch.setattr(bench_setup, "resolve_device", lambda device: "gpu")
    options = {"resolution": 8, "batch_size": 1, "channels": (8, 8), "heads": 2}
    options |= {"window_size": 4, "device": "gpu", "repeat": 1, "warmup": 0, "runtime": {}}
    with pytest.raises(UserError, match="--update-in-backward: not with --amp"):
        set_up_bench(**options, amp=True, models=["quickstart"], in_backward=True)
    assert set_up_bench(**options, amp=True, models=["quickstart"]).options.amp


def _call_counts(table: str) -> dict[str, int]:
    """``{kernel: calls per step}`` of a :func:`compiled_call_table`."""
    counts = {}
    for line in table.splitlines()[1:]:
        _, calls, *name = line.split()
        if calls.isdigit():
            counts[" ".join(name)] = int(calls)
    return counts


def test_compiled_call_table_counts_each_blocks_softmax_per_training_step() -> None:
    """A SwinT is two blocks: with the kernels and oneDNN, a training step runs the softmax
    kernel twice forward and its gradient twice backward, and the table says so per step."""
    from swint_cli import SwinT
    from swint_cli.bench.breakdown import compiled_call_table

    if not backend.enabled("onednn"):
        pytest.skip(backend.unavailable("onednn"))
    layer = SwinT(8, 8, (8, 8), num_heads=2, window_size=4)
    x = paddle.randn([2, 8, 8, 8])
    x.stop_gradient = False
    counts = _call_counts(compiled_call_table(lambda: layer(x).sum().backward(), 3))
    assert (counts["swint_bias_softmax"], counts["swint_softmax_backward"]) == (2, 2)
    with backend.override(kernels=False):
        table = compiled_call_table(lambda: layer(x).sum().backward(), 1)
    assert table == "no compiled calls: compiled CPU kernels off"


def test_bench_calls_and_profile_write_a_breakdown_per_measurement(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["--channels", "8:8", "--heads", "2", "--window-size", "4", "--device", "cpu"]
    args += ["--resolution", "8", "--batch-size", "2", "--repeat", "1", "--warmup", "0"]
    args += ["--calls", "--profile", "1", "--out", str(out)]
    result = runner.invoke(app, ["--threads", "1", "bench", *args])
    assert result.exit_code == 0, result.output
    text = (out / "breakdown.txt").read_text()
    headings = [line for line in text.splitlines() if line.startswith("== ")]
    measured = ["SwinT", "Conv2D", "SwinT stride 2", "Conv2D stride 2"]
    assert headings == [
        f"== {name}, batch 2: {title} =="
        for name in measured
        for title in ("compiled calls per training step", "Paddle's operators")
    ]
    assert text in result.output + "\n" and "wrote " in result.output
    assert "breakdown.txt" in result.output.splitlines()[-1]
    sections = text.split("== ")[1:]
    if backend.enabled("kernels"):  # the worker runs the kernels where this process can
        assert "swint_bias_softmax" in sections[0]
    assert "Operator Summary" in sections[1] or "Overview Summary" in sections[1]
    assert "breakdown" not in ",".join(BENCH_COLUMNS)  # the tables stay out of bench.csv
