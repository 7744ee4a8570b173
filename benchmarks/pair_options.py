"""The command-line options of the block-pair benchmarks (swint's and the PyTorch pair), so
that both measure the same shapes under the same names."""

from __future__ import annotations

import argparse


def add_pair_options(parser: argparse.ArgumentParser, threads: int | None) -> None:
    """Batch, map size, channels, heads, window, timed and warm-up steps, threads (default
    ``threads``), and ``--precision``."""
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=56)
    parser.add_argument("--channels", type=int, default=96)
    parser.add_argument("--heads", type=int, default=3)
    parser.add_argument("--window", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=threads)
    parser.add_argument("--precision", default="fp32", help="fp32 | bf16 matrix products")
    parser.add_argument("--no-tune", action="store_true", help="leave glibc malloc alone")
