"""2-D convolution and its gradients in NumPy (float64), from the definition
``y[b, o, i, j] = bias[o] + sum_{c, u, v} w[o, c, u, v] * xpad[b, c, i*s + u*d, j*s + v*d]``:
an independent reference for the convolution paths."""

from __future__ import annotations

import numpy as np


def _taps(x_shape, w_shape, stride, padding, dilation):
    """Each kernel tap (u, v) with the slices of the padded input it reads."""
    _, _, height, width = x_shape
    _, _, kh, kw = w_shape
    out = [
        (extent + 2 * p - d * (k - 1) - 1) // s + 1
        for extent, k, s, p, d in zip(
            (height, width), (kh, kw), stride, padding, dilation, strict=True
        )
    ]
    for u in range(kh):
        for v in range(kw):
            rows = slice(u * dilation[0], u * dilation[0] + stride[0] * (out[0] - 1) + 1, stride[0])
            cols = slice(v * dilation[1], v * dilation[1] + stride[1] * (out[1] - 1) + 1, stride[1])
            yield u, v, rows, cols


def _pad(x, padding):
    return np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))


def conv2d(x, w, bias, stride, padding, dilation):
    """The forward output ``(B, O, Ho, Wo)``."""
    xp = _pad(x.astype(np.float64), padding)
    y = 0.0
    for u, v, rows, cols in _taps(x.shape, w.shape, stride, padding, dilation):
        y = y + np.einsum("bchw,oc->bohw", xp[:, :, rows, cols], w[:, :, u, v].astype(np.float64))
    return y if bias is None else y + bias.astype(np.float64)[None, :, None, None]


def conv2d_grads(x, w, dy, stride, padding, dilation):
    """``(dx, dw, dbias)`` of ``sum(conv2d(x, w, bias) * dy)``."""
    xp = _pad(x.astype(np.float64), padding)
    dy = dy.astype(np.float64)
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for u, v, rows, cols in _taps(x.shape, w.shape, stride, padding, dilation):
        dxp[:, :, rows, cols] += np.einsum("bohw,oc->bchw", dy, w[:, :, u, v].astype(np.float64))
        dw[:, :, u, v] = np.einsum("bohw,bchw->oc", dy, xp[:, :, rows, cols])
    height, width = x.shape[2:]
    dx = dxp[:, :, padding[0] : padding[0] + height, padding[1] : padding[1] + width]
    return dx, dw, dy.sum(axis=(0, 2, 3))
