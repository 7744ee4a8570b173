"""Run oneDNN's GEMMs through swint's kernels under a barrage of signals, then check them.

``python tests/gemms_under_signals.py THREADS SECONDS``: a SIGALRM every 0.5 ms, handled by
Python, while single products run for SECONDS, then batched products, bfloat16 products
(where the CPU has them) and oneDNN convolutions (where found) for as long; prints
``signals N`` and exits 0 when every result still matches NumPy or Paddle. A signal handled
inside one of oneDNN's generated f32 GEMM kernels corrupts the heap (oneDNN issue #4845):
the process then aborts, or hangs in Paddle's abort handler.
"""

from __future__ import annotations

import signal
import sys
import time

import numpy as np
import paddle

from swint_cli.nn import convolution
from swint_cli.nn.kernels import backend, onednn
from swint_cli.runtime import set_cpu_threads

INTERVAL = 0.0005


def main(threads: int, seconds: float) -> None:
    set_cpu_threads(threads)
    rng = np.random.default_rng(0)
    # (4096, 192) @ (192, 64): a product whose oneDNN kernel runs on a stack in the heap
    x, w = (rng.standard_normal(shape, np.float32) for shape in ((4096, 192), (192, 64)))
    q, k = (rng.standard_normal((32, 49, 16), np.float32) for _ in range(2))
    x_t, w_t, q_t, k_t = map(paddle.to_tensor, (x, w, q, k))
    low = backend.enabled("bf16")
    x_low, w_low = (x_t.astype("bfloat16"), w_t.astype("bfloat16")) if low else (None, None)
    image, kernel = (paddle.randn(shape) for shape in ((8, 32, 16, 16), (32, 32, 3, 3)))
    convolutions = convolution.applies(image)
    count = [0]

    def handler(signum: int, frame: object) -> None:
        count[0] += 1

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, INTERVAL, INTERVAL)
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # the heap's layout as in a Linear layer's forward
        product = onednn.gemm(x_t, w_t, paddle.empty([4096, 64]), False, False)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        scores = paddle.empty([32, 49, 49])
        matrices = [onednn.Matrices.stacked(t) for t in (q_t, k_t, scores)]
        onednn.batched_gemm(*matrices, batch=(32, 1), shape=(49, 49, 16), transpose_b=True)
        if low:
            low_product = onednn.gemm(x_low, w_low, paddle.empty([4096, 64]), False, False)
        if convolutions:
            features = convolution.conv2d(image, kernel, None, (1, 1), (1, 1), (1, 1))
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    np.testing.assert_allclose(product.numpy(), x @ w, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(scores.numpy(), q @ k.transpose(0, 2, 1), rtol=1e-4, atol=1e-3)
    if low:
        np.testing.assert_allclose(low_product.numpy(), x @ w, rtol=0.05, atol=0.5)
    if convolutions:
        want = paddle.nn.functional.conv2d(image, kernel, padding=1)
        np.testing.assert_allclose(features.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)
    print(f"signals {count[0]}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
