"""What ``MKL_DEBUG_CPU_TYPE=5`` does on this CPU: side by side, with and without it.

    python benchmarks/mkl_code_path.py --rounds 3

Each case runs in a fresh process (MKL reads the variable when Paddle loads), alternating
between the two settings for ``--rounds`` rounds, and times a 2048x2048 fp32 matmul
(GFLOP/s), the SwinT pair of ``swint_block_pair.py`` (B8, 56x56, C96, window 7, fwd+bwd)
and a ResNet-50 training step (B16 at 64x64, SGD). It prints a Markdown table of medians
with the CPU model and vendor; the last column is the value with 5 over the value without
(above 1 for GFLOP/s, below 1 for milliseconds: 5 is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from step_timer import step_times

SETTINGS = {"unset": None, "5": "5"}


def _median_ms(step, repeat: int, warmup: int) -> float:
    return statistics.median(step_times(step, warmup, repeat))


def measure() -> dict[str, float]:
    """Runs in the worker process: the three timings under the inherited environment."""
    import paddle

    from swint_cli import SwinT, tune_cpu
    from swint_cli.models import build_backbone

    tune_cpu()  # threads and malloc; MKL's variable is left as the parent set it
    a, b = paddle.randn([2048, 2048]), paddle.randn([2048, 2048])
    matmul_ms = _median_ms(lambda: paddle.matmul(a, b).numpy(), repeat=10, warmup=3)

    layer = SwinT(96, 96, num_heads=3, window_size=7)
    x = paddle.randn([8, 96, 56, 56])
    x.stop_gradient = False

    def pair() -> None:
        layer(x).sum().backward()
        layer.clear_gradients()

    model = build_backbone("resnet50", 10)
    optimizer = paddle.optimizer.SGD(learning_rate=0.01, parameters=model.parameters())
    images, labels = paddle.randn([16, 3, 64, 64]), paddle.randint(0, 10, [16])

    def train_step() -> None:
        loss = paddle.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        float(loss)

    return {
        "matmul_gflops": 2 * 2048**3 / (matmul_ms * 1e-3) / 1e9,
        "swint_pair_ms": _median_ms(pair, repeat=7, warmup=2),
        "resnet50_step_ms": _median_ms(train_step, repeat=7, warmup=2),
    }


def run_worker(value: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "MKL_DEBUG_CPU_TYPE"}
    if value is not None:
        env["MKL_DEBUG_CPU_TYPE"] = value
    done = subprocess.run(
        [sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure()))
        return

    from swint_cli.runtime import cpu_info

    results: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, value in SETTINGS.items():
            results[name].append(run_worker(value))
    print(f"CPU: {cpu_info('model name')} ({cpu_info('vendor_id')}), {os.cpu_count()} cores;")
    print(f"medians of {args.rounds} interleaved rounds (each round's value in brackets)\n")
    print("| measurement | MKL_DEBUG_CPU_TYPE unset | =5 | 5 / unset |")
    print("|---|---|---|---|")
    for key in ("matmul_gflops", "swint_pair_ms", "resnet50_step_ms"):
        unset, five = (statistics.median(r[key] for r in results[name]) for name in SETTINGS)
        rounds = {name: ", ".join(f"{r[key]:.0f}" for r in results[name]) for name in SETTINGS}
        print(
            f"| {key} | {unset:.0f} ({rounds['unset']}) | {five:.0f} ({rounds['5']}) "
            f"| {five / unset:.2f} |"
        )


if __name__ == "__main__":
    main()
