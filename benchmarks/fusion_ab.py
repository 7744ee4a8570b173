"""What the SwinT pair gains from its fused residual adds, the shift mask added inside the
softmax kernel and (under bf16) its one-op MLP, measured by interleaving steps with and
without them in one process.

    python benchmarks/fusion_ab.py --precision bf16 --fusion add,mlp --steps 40

On a shared machine, whole-process timings drift by more than these few percent from one
minute to the next; alternating the variant step by step puts both under the same drift.
"Without" swaps in the plain forms: Paddle's ``x + y`` for :func:`functional.add`, the
relative position bias and the mask summed by Paddle into one ``(nW, nH, N, N)`` bias for
the attention (as the Paddle-op path does), and the two-layer MLP (``fc1`` with GELU, then
``fc2``) for :func:`functional.mlp`. Prints the median step of each and the median of the
per-pair ratios with its quartiles.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pair_options import add_pair_options

from swint_cli.runtime import prepare_environment

prepare_environment()  # MKL's code path must be chosen before Paddle loads

import paddle  # noqa: E402

from swint_cli import SwinT, tune_cpu  # noqa: E402
from swint_cli.nn import attention_core, functional, mlp  # noqa: E402
from swint_cli.nn.precision import autocast  # noqa: E402
from swint_cli.nn.window_attention import summed_score_bias  # noqa: E402


def _summed_bias_attention(
    qkv: paddle.Tensor, bias: paddle.Tensor, heads: int, mask: paddle.Tensor | None = None
) -> paddle.Tensor:
    return FUSED["mask"](qkv, summed_score_bias(bias, mask), heads)


FUSED = {
    "add": functional.add,
    "mask": attention_core.window_attention,
    "mlp": mlp.products_in_bf16,
}
PLAIN = {
    "add": lambda x, y: x + y,
    "mask": _summed_bias_attention,
    "mlp": lambda: False,  # no one-op MLP
}


def use(fusions: list[str], fused: bool) -> None:
    chosen = FUSED if fused else PLAIN
    if "add" in fusions:
        functional.add = chosen["add"]
    if "mask" in fusions:
        attention_core.window_attention = chosen["mask"]
    if "mlp" in fusions:
        mlp.products_in_bf16 = chosen["mlp"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pair_options(parser, threads=None)
    parser.add_argument("--fusion", default="all", help="add, mask, mlp (comma-separated) or all")
    parser.add_argument("--steps", type=int, default=40, help="timed steps, half of each")
    args = parser.parse_args()
    fusions = list(FUSED) if args.fusion == "all" else args.fusion.split(",")
    unknown = [name for name in fusions if name not in FUSED]
    if unknown:
        parser.error(f"--fusion: unknown {', '.join(unknown)}; expected {', '.join(FUSED)} or all")

    runtime = tune_cpu(args.threads, malloc=not args.no_tune)
    c, r = args.channels, args.resolution
    layer = SwinT(c, c, num_heads=args.heads, window_size=args.window)
    x = paddle.randn([args.batch, c, r, r])
    x.stop_gradient = False
    grad = paddle.randn([args.batch, c, r, r])

    def step(fused: bool) -> float:
        use(fusions, fused)
        layer.clear_gradients()
        start = time.perf_counter()
        with autocast(args.precision):
            layer(x).backward(grad)
        return (time.perf_counter() - start) * 1000

    for _ in range(args.warmup):
        step(True)
        step(False)
    pairs = [(step(True), step(False)) for _ in range(args.steps // 2)]
    ratios = sorted(fused / plain for fused, plain in pairs)
    quartiles = statistics.quantiles(ratios, n=4)
    print(
        f"paddle {paddle.__version__}, threads {runtime['threads']}: B{args.batch} {r}x{r} C{c} "
        f"precision {args.precision}, fusion {args.fusion}: fused median "
        f"{statistics.median(p[0] for p in pairs):.0f} ms, plain "
        f"{statistics.median(p[1] for p in pairs):.0f} ms; fused / plain per pair: median "
        f"{statistics.median(ratios):.3f} (quartiles {quartiles[0]:.3f}, {quartiles[2]:.3f})"
    )


if __name__ == "__main__":
    main()
