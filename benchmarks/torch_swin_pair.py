"""The reference for ``swint_block_pair.py``: a W-MSA + SW-MSA block pair in PyTorch.

    /path/to/torch-env/bin/python benchmarks/torch_swin_pair.py --batch 8 --resolution 56
    /path/to/torch-env/bin/python benchmarks/torch_swin_pair.py --precision bf16

The blocks are the official Swin Transformer's (pre-norm, fused qkv Linear, relative position
bias gathered from a table, cyclic shift with the attention mask, exact GELU MLP), written
here from the paper so that nothing is downloaded; ``--precision bf16`` runs them under
``torch.autocast("cpu", dtype=torch.bfloat16)``. Prints the median, p10 and p90 forward +
backward time like ``swint_block_pair.py``, with glibc malloc tuned as ``swint`` tunes it
(``--no-tune`` leaves it alone). torch is needed in the environment that runs this; it is not a
dependency of swint: install it in a scratch environment (``pip install torch``).
"""

from __future__ import annotations

import argparse
import ctypes

import torch
from pair_options import add_pair_options
from step_timer import time_step
from torch import nn

# glibc mallopt parameters, as swint_cli.runtime.keep_heap_memory sets them
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


def keep_heap_memory() -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    libc.mallopt(_M_TOP_PAD, 256 * 2**20)


def relative_index(window: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = coords.flatten(1)  # (2, M*M)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]  # (M*M, M*M)


def shift_mask(size: int, window: int, shift: int) -> torch.Tensor:
    region = torch.zeros(1, size, size, 1)
    count = 0
    for h in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for w in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            region[:, h, w, :] = count
            count += 1
    windows = partition(region, window).squeeze(-1)  # (nW, M*M)
    mask = windows[:, None, :] - windows[:, :, None]
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def partition(x: torch.Tensor, window: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def reverse(windows: torch.Tensor, window: int, size: int) -> torch.Tensor:
    c = windows.shape[-1]
    x = windows.view(-1, size // window, size // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, size, size, c)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        self.register_buffer("index", relative_index(window).flatten())
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)  # (B*nW, nH, N, N)
        bias = self.table[self.index].view(n, n, -1).permute(2, 0, 1).contiguous()
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(b // windows, windows, self.heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.heads, n, n)
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, size: int) -> None:
        super().__init__()
        self.window, self.shift, self.size = window, shift, size
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, window)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.register_buffer("mask", shift_mask(size, window, shift) if shift else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        y = self.norm1(x).view(b, self.size, self.size, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = reverse(self.attn(partition(y, self.window), self.mask), self.window, self.size)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, -1, c)
        return x + self.mlp(self.norm2(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pair_options(parser, threads=2)
    args = parser.parse_args()
    if not args.no_tune:
        keep_heap_memory()
    torch.set_num_threads(args.threads)
    c, r, w = args.channels, args.resolution, args.window
    pair = nn.Sequential(*(Block(c, args.heads, w, shift, r) for shift in (0, w // 2)))
    x = torch.randn(args.batch, r * r, c, requires_grad=True)
    grad = torch.randn(args.batch, r * r, c)
    bf16 = args.precision == "bf16"

    def step() -> None:
        pair.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = pair(x)
        out.float().backward(grad)

    timing = time_step(step, args.warmup, args.repeat)
    print(
        f"torch {torch.__version__}, threads {args.threads}, malloc tuned {not args.no_tune}: "
        f"B{args.batch} {r}x{r} C{c} heads {args.heads} window {w} precision "
        f"{args.precision}: fwd+bwd {timing}"
    )


if __name__ == "__main__":
    main()
