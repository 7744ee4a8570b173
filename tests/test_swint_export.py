"""A model holding SwinT survives paddle.jit.to_static / jit.save / jit.load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from swint_cli import SwinT


class TinyNet(paddle.nn.Layer):
    def __init__(self, resolution: tuple[int, int] | None) -> None:
        super().__init__()
        self.stem = paddle.nn.Conv2D(3, 8, 3, padding=1)
        self.swin = SwinT(8, 16, input_resolution=resolution, num_heads=2, window_size=3)
        self.down = SwinT(
            16, 16, input_resolution=None, num_heads=2, window_size=3, downsample=True
        )
        self.head = paddle.nn.Linear(16, 5)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.down(self.swin(self.stem(x)))
        return self.head(x.mean(axis=[2, 3]))


@pytest.mark.parametrize("resolution", [(7, 9), None])
def test_jit_save_and_load_round_trip_gives_same_output(
    tmp_path: Path, resolution: tuple[int, int] | None
) -> None:
    model = TinyNet(resolution)
    model.eval()
    x = paddle.randn([2, 3, 7, 9])
    expected = model(x).numpy()

    path = str(tmp_path / "tiny")
    spec = [paddle.static.InputSpec([None, 3, 7, 9], "float32", "x")]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), path)
    loaded = paddle.jit.load(path)
    loaded.eval()

    np.testing.assert_allclose(loaded(x).numpy(), expected, atol=1e-5, rtol=1e-5)
    other_batch = paddle.randn([3, 3, 7, 9])
    np.testing.assert_allclose(
        loaded(other_batch).numpy(), model(other_batch).numpy(), atol=1e-5, rtol=1e-5
    )
