"""SwinT block pair (swint) against the PyTorch reference pair, interleaved, on this CPU.

    python benchmarks/pair_vs_torch.py --torch-python /path/to/torch-env/bin/python --rounds 5

Each round runs every variant once, each in a fresh process (``swint_block_pair.py`` and
``torch_swin_pair.py`` with the same shapes and threads), in turn, so that slow spells of a
shared machine fall on all of them alike. Prints a Markdown table: per variant the median of
the rounds' medians, the rounds' medians themselves, and the ratio to the torch pair in the
same precision, both of the medians and round by round (each round's time over the torch
pair's in the same round: the median and range of those ratios, which the machine's slow
spells disturb less); with the CPU model and its bfloat16 flags. Variants: swint fp32 and bf16
(and with ``--recompute``), torch fp32 and bf16 autocast; ``--no-onednn`` adds swint fp32
with ``SWINT_ONEDNN=0``, ``--no-kernels`` with ``SWINT_CPU_KERNELS=0``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEDIAN = re.compile(r"median (\d+) ms")


def cpu_line() -> str:
    fields = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in fields.get("flags", "")]
    return f"{fields.get('model name', 'unknown CPU')} ({fields.get('vendor_id', '?')}), " + (
        f"flags: {', '.join(flags) or 'no AVX-512'}"
    )


def run(command: list[str], env: dict[str, str]) -> int:
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = MEDIAN.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", required=True, help="a Python with torch installed")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=56)
    parser.add_argument("--channels", type=int, default=96)
    parser.add_argument("--heads", type=int, default=3)
    parser.add_argument("--recompute", action="store_true")
    parser.add_argument("--no-onednn", action="store_true")
    parser.add_argument("--no-kernels", action="store_true")
    args = parser.parse_args()
    shape = ["--batch", str(args.batch), "--resolution", str(args.resolution)]
    shape += ["--channels", str(args.channels), "--heads", str(args.heads)]
    shape += ["--repeat", str(args.repeat), "--threads", str(args.threads)]
    ours = [sys.executable, str(HERE / "swint_block_pair.py"), *shape]
    theirs = [args.torch_python, str(HERE / "torch_swin_pair.py"), *shape]
    plain = dict(os.environ)
    variants: dict[str, tuple[list[str], dict[str, str], str]] = {
        "swint fp32": ([*ours, "--precision", "fp32"], plain, "fp32"),
        "swint bf16": ([*ours, "--precision", "bf16"], plain, "bf16"),
        "torch fp32": ([*theirs, "--precision", "fp32"], plain, "fp32"),
        "torch bf16 autocast": ([*theirs, "--precision", "bf16"], plain, "bf16"),
    }
    if args.recompute:
        for precision in ("fp32", "bf16"):
            command = [*ours, "--precision", precision, "--recompute"]
            variants[f"swint {precision} recompute"] = (command, plain, precision)
    if args.no_onednn:
        variants["swint fp32, SWINT_ONEDNN=0"] = (ours, {**plain, "SWINT_ONEDNN": "0"}, "fp32")
    if args.no_kernels:
        no_kernels = {**plain, "SWINT_CPU_KERNELS": "0"}
        variants["swint fp32, SWINT_CPU_KERNELS=0"] = (ours, no_kernels, "fp32")
    times: dict[str, list[int]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (command, env, _) in variants.items():
            times[name].append(run(command, env))
    medians = {name: statistics.median(found) for name, found in times.items()}
    torch_names = {"fp32": "torch fp32", "bf16": "torch bf16 autocast"}
    print(
        f"{cpu_line()}; {args.threads} threads; B{args.batch} {args.resolution}x"
        f"{args.resolution} C{args.channels} heads {args.heads} window 7, fwd+bwd; "
        f"{args.rounds} interleaved rounds of {args.repeat} steps\n"
    )
    print(
        "| variant | median of rounds (ms) | rounds (ms) | / torch, same precision: "
        "medians | / torch, round by round: median (range) |"
    )
    print("|---|---|---|---|---|")
    for name, (_, _, precision) in variants.items():
        rounds = ", ".join(map(str, times[name]))
        torch_times = times[torch_names[precision]]
        ratio = medians[name] / statistics.median(torch_times)
        paired = sorted(a / b for a, b in zip(times[name], torch_times, strict=True))
        print(
            f"| {name} | {medians[name]:.0f} | {rounds} | {ratio:.2f}x | "
            f"{statistics.median(paired):.2f}x ({paired[0]:.2f}-{paired[-1]:.2f}) |"
        )


if __name__ == "__main__":
    main()
