"""The command-line options of the backbone benchmarks (``backbone_profile.py``,
``conv_paths.py``), so that both measure the same model under the same names."""

from __future__ import annotations

import argparse


def add_backbone_options(parser: argparse.ArgumentParser, repeat: int) -> None:
    """Backbone, batch, input resolution, timed repeats (default ``repeat``) and threads."""
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--threads", type=int, default=None)
