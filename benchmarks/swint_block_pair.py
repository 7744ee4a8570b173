"""Forward+backward time of one SwinT (W-MSA + SW-MSA block pair) on the CPU.

    python benchmarks/swint_block_pair.py --batch 8 --resolution 56 --channels 96 --heads 3
    python benchmarks/swint_block_pair.py --residual-norm post --layer-scale 1e-5
    python benchmarks/swint_block_pair.py --precision bf16 --recompute

prints the median, p10 and p90 step time over ``--repeat`` steps after ``--warmup``, for the
settings ``swint bench`` does not vary (the residual norm, LayerScale, no process settings);
where the step goes, ``swint bench --calls --profile 3``.
``--no-tune`` leaves glibc malloc alone; ``--precision bf16`` runs the matrix products in
bf16 (``swint_cli.nn.precision``); ``--recompute`` recomputes the blocks' activations in
backward; ``SWINT_ONEDNN=0`` or ``SWINT_CPU_KERNELS=0`` in the environment turn off oneDNN's
GEMMs or all compiled paths.
``--library-defaults`` applies no process setting at all (no ``tune_cpu``, no
``MKL_DEBUG_CPU_TYPE``: Paddle's one thread), as for a library user who never calls it.
"""

from __future__ import annotations

import argparse
import sys

from pair_options import add_pair_options
from step_timer import time_step

from swint_cli.runtime import prepare_environment

LIBRARY_DEFAULTS = "--library-defaults" in sys.argv
if not LIBRARY_DEFAULTS:
    prepare_environment()  # MKL's code path must be chosen before Paddle loads

import paddle  # noqa: E402

from swint_cli import SwinT, tune_cpu  # noqa: E402
from swint_cli.nn.precision import autocast  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pair_options(parser, threads=None)
    parser.add_argument("--library-defaults", action="store_true", help="no process settings")
    parser.add_argument("--residual-norm", default="pre", help="pre | post | post_zero")
    parser.add_argument("--layer-scale", type=float, default=None, help="LayerScale init value")
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
    timing = time_step(step, args.warmup, args.repeat)
    print(
        f"paddle {paddle.__version__}, threads {runtime['threads']}, "
        f"MKL_DEBUG_CPU_TYPE={runtime['mkl_debug_cpu_type']}, malloc tuned "
        f"{runtime['malloc_tuned']}: "
        f"B{args.batch} {r}x{r} C{c} heads {args.heads} window {args.window} "
        f"norm {args.residual_norm} layer scale {args.layer_scale} precision {precision[-1]} "
        f"recompute {args.recompute}: fwd+bwd {timing}"
    )


if __name__ == "__main__":
    main()
