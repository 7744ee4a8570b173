"""The compiled CPU kernels of a git revision against the working tree's, call by call in one
process, at the SwinT pair's shapes (B8, 56x56, C96, 3 heads, window 7).

    python benchmarks/kernels_against_revision.py --revision HEAD~1 --only gelu softmax

Both versions of the kernels' sources (``cpu_kernels.c`` and ``matrix_kernels.c``) are
built by the package's own build step (``build.build_library``) into a scratch directory and
loaded
side by side; each kernel is called with the same buffers, the two versions alternating, so
that a shared machine's slow spells fall on both. Prints the median time of each and their
ratio. The kernel's C signature must be the same in both versions.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from swint_cli.runtime import prepare_environment

prepare_environment()  # MKL's code path must be chosen before Paddle loads

import paddle  # noqa: E402

from swint_cli import tune_cpu  # noqa: E402
from swint_cli.nn import kernels  # noqa: E402
from swint_cli.nn.kernels import backend, build, onednn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [source.relative_to(ROOT).as_posix() for source in build.SOURCES]


def compiled(sources: dict[str, str], directory: Path) -> ctypes.CDLL:
    """``sources`` (file name -> text) built into ``directory`` by the package's own build
    step (compiler, flags, OpenMP runtime), loaded with their signatures."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_name, text in sources.items():
        paths.append(directory / Path(file_name).name)
        paths[-1].write_text(text)
    library, origin = build.build_library(paths, directory / "kernels.so")
    if library is None:
        raise SystemExit(f"cannot build the kernels in {directory}: {origin}")
    return backend.bind(backend.bind(library, kernels.SIGNATURES), onednn.SIGNATURES)


def revision_sources(revision: str) -> dict[str, str]:
    """The kernels' sources as ``revision`` has them."""
    sources = {}
    for source in SOURCES:
        shown = subprocess.run(
            ["git", "show", f"{revision}:{source}"], cwd=ROOT, capture_output=True, text=True
        )
        if shown.returncode != 0:
            raise SystemExit(f"cannot read {source} at {revision}: {shown.stderr.strip()}")
        sources[source] = shown.stdout
    return sources


def pointer(t: paddle.Tensor | None) -> ctypes.c_void_p | None:
    return ctypes.c_void_p(t.data_ptr()) if t is not None else None


def cases(threads: int) -> tuple[dict[str, tuple[str, tuple]], dict[str, paddle.Tensor]]:
    """Kernel calls at the pair's shapes (name -> (C function, arguments)), and the tensors
    their pointers point into, which the caller must hold while it calls."""
    p = pointer
    rows, c, hidden = 8 * 56 * 56, 96, 384
    x, dy, dx = paddle.randn([rows, c]), paddle.randn([rows, c]), paddle.empty([rows, c])
    w, dw, db = paddle.randn([c]), paddle.empty([c]), paddle.empty([c])
    h, scale, h_bias = (
        paddle.randn([rows, hidden]),
        paddle.randn([rows, hidden]),
        paddle.randn([hidden]),
    )
    g32, sums = paddle.empty([rows, hidden]), paddle.empty([hidden])
    g16 = paddle.empty([rows, hidden], dtype=paddle.bfloat16)
    scores, bias, mask = (
        paddle.randn(shape) for shape in ([512, 3, 49, 49], [3, 49, 49], [64, 49, 49])
    )
    probs, dprobs, dscores = (paddle.randn(scores.shape) for _ in range(3))
    probs16 = paddle.empty(scores.shape, dtype=paddle.bfloat16)
    tokens, nchw = paddle.randn([8, 56 * 56, c]), paddle.empty([8, c, 56 * 56])
    hidden_rows = (rows, hidden, threads)
    calls = {
        "gelu with grad": (
            "swint_bias_gelu",
            (p(h), p(h_bias), p(g32), None, p(scale), *hidden_rows),
        ),
        "gelu with grad, bf16 out": (
            "swint_bias_gelu",
            (p(h), p(h_bias), None, p(g16), p(scale), *hidden_rows),
        ),
        "output grad, GELU scale": (
            "swint_output_grad",
            (p(h), p(scale), p(g32), None, p(sums), *hidden_rows),
        ),
        "output grad, bf16": (
            "swint_output_grad",
            (p(h), None, None, p(g16), p(sums), *hidden_rows),
        ),
        "layer norm backward": (
            "swint_layer_norm_backward",
            (*map(p, (x, w, dy, dx, dw, db)), rows, c, 1e-5, threads),
        ),
        "bias and mask softmax, bf16": (
            "swint_bias_softmax",
            (p(scores), p(bias), p(mask), 64, p(probs), p(probs16), 512, bias.size, 49, threads),
        ),
        "softmax backward": (
            "swint_softmax_backward",
            (*map(p, (probs, dprobs, dscores)), scores.size // 49, 49, threads),
        ),
        "tokens to NCHW": ("swint_swap_last_axes", (p(tokens), p(nchw), 8, 56 * 56, c, threads)),
        "residual add": ("swint_add", (p(x), p(dy), p(dx), rows * c, threads)),
    }
    # the attention's products, one per window and head, reading heads in place in q/k/v,
    # in float32 and in bfloat16 (bf16 q/k/v and probabilities, float32 sums)
    qkv, out_heads = paddle.randn([512, 49, 3 * c]), paddle.empty([512, 49, c])
    qkv16 = qkv.astype(paddle.bfloat16)
    outputs = (p(out_heads), 49 * c, 32, c)
    for dtype, probabilities, heads in (("", probs, qkv), (", bf16", probs16, qkv16)):
        function, size = onednn.address(onednn.GEMMS[heads.dtype]), heads.element_size()
        square = (p(probabilities), 3 * 49 * 49, 49 * 49, 49)  # (W, nH, N, N): per window, head
        q, k, v = (
            (ctypes.c_void_p(heads.data_ptr() + size * part * c), 49 * 3 * c, 32, 3 * c)
            for part in range(3)
        )
        products = {  # name: (transa, transb, (m, n, k), a, b, c)
            "attention q k^T (NT)": (b"N", b"T", (49, 49, 32), q, k, square),
            "attention P v (NN)": (b"N", b"N", (49, 32, 49), square, v, outputs),
            "attention dS^T q (TN)": (b"T", b"N", (49, 32, 49), square, q, outputs),
        }
        for name, (ta, tb, shape, a, b, out) in products.items():
            if dtype and ta == b"N" and tb == b"T":
                continue  # float32 scores would overrun the bf16 probabilities' buffer
            arguments = (function, size, ta, tb, 512, 3, *shape, 1.0, *a, *b, 0.0, *out, threads)
            calls[name + dtype] = ("swint_batched_gemm", arguments)
    held = {name: value for name, value in locals().items() if isinstance(value, paddle.Tensor)}
    return calls, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revision", default="HEAD", help="git revision to compare against")
    parser.add_argument("--only", nargs="*", default=[], help="kernels whose name has these")
    parser.add_argument("--calls", type=int, default=30, help="timed calls of each version")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    threads = tune_cpu(args.threads)["threads"]
    reason = backend.unavailable("onednn")
    if reason is not None:
        raise SystemExit(f"{reason}: the products cannot be timed")
    old_sources = revision_sources(args.revision)
    new_sources = {source: (ROOT / source).read_text() for source in SOURCES}
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "revision").mkdir()
        (Path(scratch) / "working_tree").mkdir()
        old = compiled(old_sources, Path(scratch) / "revision")
        new = compiled(new_sources, Path(scratch) / "working_tree")
        print(f"{args.revision} against the working tree, {threads} threads, ms per call")
        calls, _held = cases(threads)
        for name, (function, values) in calls.items():
            if args.only and not any(word in name for word in args.only):
                continue
            if not (hasattr(old, function) and hasattr(new, function)):
                print(f"{name:28} {function} missing from one version")
                continue
            versions = (getattr(old, function), getattr(new, function))
            times: tuple[list[float], list[float]] = ([], [])
            for call in range(args.calls + 1):
                for version, record in zip(versions, times, strict=True):
                    start = time.perf_counter()
                    version(*values)
                    if call:  # the first call of each warms up
                        record.append((time.perf_counter() - start) * 1000)
            before, after = (statistics.median(t) for t in times)
            print(f"{name:28} {before:7.2f} {after:7.2f}  x{after / before:.2f}")


if __name__ == "__main__":
    main()
