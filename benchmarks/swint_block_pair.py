"""Forward+backward time of one SwinT (W-MSA + SW-MSA block pair) on the CPU.

    python benchmarks/swint_block_pair.py --batch 8 --resolution 56 --channels 96 --heads 3
    python benchmarks/swint_block_pair.py --residual-norm post --layer-scale 1e-5
    python benchmarks/swint_block_pair.py --precision bf16 --recompute

prints the median, p10 and p90 step time over ``--repeat`` steps after ``--warmup``, and with
``--profile`` Paddle's operator table for a few steps. ``--no-tune`` leaves glibc malloc
alone; ``--precision bf16`` runs the matrix products in bf16 (``swint_cli.nn.precision``);
``--recompute`` recomputes the blocks' activations in backward; ``SWINT_ONEDNN=0`` or
``SWINT_CPU_KERNELS=0`` in the environment turn off oneDNN's GEMMs or all compiled paths.
``--library-defaults`` applies no process setting at all (no ``tune_cpu``, no
``MKL_DEBUG_CPU_TYPE``: Paddle's one thread), as for a library user who never calls it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from swint_cli.runtime import prepare_environment

LIBRARY_DEFAULTS = "--library-defaults" in sys.argv
if not LIBRARY_DEFAULTS:
    prepare_environment()  # MKL's code path must be chosen before Paddle loads

import paddle  # noqa: E402

from swint_cli import SwinT, tune_cpu  # noqa: E402
from swint_cli.nn.precision import autocast  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=56)
    parser.add_argument("--channels", type=int, default=96)
    parser.add_argument("--heads", type=int, default=3)
    parser.add_argument("--window", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-tune", action="store_true", help="leave glibc malloc alone")
    parser.add_argument("--library-defaults", action="store_true", help="no process settings")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--residual-norm", default="pre", help="pre | post | post_zero")
    parser.add_argument("--layer-scale", type=float, default=None, help="LayerScale init value")
    parser.add_argument("--precision", default="fp32", help="fp32 | bf16 matrix products")
    parser.add_argument("--recompute", action="store_true", help="recompute block activations")
    args = parser.parse_args()

    if LIBRARY_DEFAULTS:
        runtime = {"threads": 1, "mkl_debug_cpu_type": None, "malloc_tuned": False}
    else:
        runtime = tune_cpu(args.threads, malloc=not args.no_tune)
    c, r = args.channels, args.resolution
    layer = SwinT(
        c,
        c,
        num_heads=args.heads,
        window_size=args.window,
        residual_norm=args.residual_norm,
        layer_scale=args.layer_scale,
        recompute=args.recompute,
    )
    x = paddle.randn([args.batch, c, r, r])
    x.stop_gradient = False
    grad = paddle.randn([args.batch, c, r, r])

    def step() -> None:
        layer.clear_gradients()
        with autocast(args.precision) as used:
            layer(x).backward(grad)
        precision.append(used)

    precision: list[str] = []

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p10, p90 = times[len(times) // 10], times[(len(times) * 9) // 10]
    print(
        f"paddle {paddle.__version__}, threads {runtime['threads']}, "
        f"MKL_DEBUG_CPU_TYPE={runtime['mkl_debug_cpu_type']}, malloc tuned "
        f"{runtime['malloc_tuned']}: "
        f"B{args.batch} {r}x{r} C{c} heads {args.heads} window {args.window} "
        f"norm {args.residual_norm} layer scale {args.layer_scale} precision {precision[-1]} "
        f"recompute {args.recompute}: fwd+bwd "
        f"median {statistics.median(times):.0f} ms (p10 {p10:.0f}, p90 {p90:.0f})"
    )
    if args.profile:
        import paddle.profiler as profiler

        prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU])
        prof.start()
        for _ in range(3):
            step()
            prof.step()
        prof.stop()
        prof.summary(op_detail=True, sorted_by=profiler.SortedKeys.CPUTotal, time_unit="ms")


if __name__ == "__main__":
    main()
