"""The Swin-T/S/B classifiers assembled from SwinT layers."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from swint_cli.layer_config import SwinTConfig
from swint_cli.models import build_backbone
from swint_cli.models.errors import ModelError
from swint_cli.models.swin_transformer import SWIN_CONFIGS, SwinConfig, SwinTransformer
from swint_cli.nn import SwinT

# Parameter counts of the official models (Liu et al. 2021, microsoft/Swin-Transformer) for
# 1000 classes.
OFFICIAL_PARAMS = {"swin_t": 28_288_354, "swin_s": 49_606_258, "swin_b": 87_768_224}


def _params(model: paddle.nn.Layer) -> int:
    return sum(int(p.numel()) for p in model.parameters())


@pytest.mark.parametrize("name", ["swin_t", "swin_s", "swin_b"])
def test_parameter_count_matches_the_official_model(name: str) -> None:
    model = SwinTransformer(1000, SWIN_CONFIGS[name])
    assert _params(model) == OFFICIAL_PARAMS[name]


def test_swin_t_stages_are_swint_pairs_with_merging_between_stages() -> None:
    model = SwinTransformer(10, SWIN_CONFIGS["swin_t"])
    layers = [layer for layer in model.layers if isinstance(layer, SwinT)]
    widths = [(layer.in_channels, layer.out_channels, layer.downsample) for layer in layers]
    assert widths == [
        (96, 192, True),  # stage 1: depth 2 = one block pair, then PatchMerging
        (192, 384, True),
        (384, 384, False),  # stage 3: depth 6 = three pairs
        (384, 384, False),
        (384, 768, True),
        (768, 768, False),  # stage 4: no merging after the last stage
    ]


def test_tiny_swin_maps_images_of_any_size_to_logits() -> None:
    config = SwinConfig(8, (2, 2), (2, 4), 0.1)
    model = SwinTransformer(5, config, patch_size=2, layer=SwinTConfig(window_size=4))
    for size in [(32, 32), (20, 28)]:
        x = paddle.randn([2, 3, *size])
        x.stop_gradient = False
        out = model(x)
        assert out.shape == [2, 5]
        out.sum().backward()
        assert x.grad is not None
        assert all(p.grad is not None for p in model.parameters())
        model.clear_gradients()


def test_swin_backbone_takes_a_patch_size_and_a_head() -> None:
    model = build_backbone("swin_t", 10, "article", patch_size=2)
    assert model.patch_embed.proj._kernel_size == [2, 2]
    model.eval()
    assert model(paddle.randn([1, 3, 32, 32])).shape == [1, 10]


def test_patch_size_on_a_resnet_is_refused() -> None:
    with pytest.raises(ModelError, match=r"model\.patch_size applies to swin_t, swin_s, swin_b"):
        build_backbone("resnet18", 10, patch_size=2)


def test_residual_norm_and_layer_scale_reach_every_block() -> None:
    config = SwinConfig(8, (2, 2), (2, 4), 0.0)
    model = SwinTransformer(
        5, config, patch_size=2, layer=SwinTConfig(window_size=4, residual_norm="post_zero")
    )
    tokens = paddle.randn([1, 64, 8])  # (N, 8*8, C) entering stage 1
    for layer in model.layers:
        assert layer.residual_norm == "post_zero"
    for block in model.layers[0].blocks:  # identity at Swin V2's init
        assert paddle.equal_all(block(tokens, 8, 8), tokens).item()
    scaled = SwinTransformer(
        5, config, patch_size=2, layer=SwinTConfig(window_size=4, layer_scale=1e-5)
    )
    gains = {n: p.numpy() for n, p in scaled.named_parameters() if n.endswith("gamma")}
    assert len(gains) == 2 * 2 * 2  # 2 SwinT layers x 2 blocks x 2 branches
    for name, gain in gains.items():  # every channel's gain starts at the configured value
        np.testing.assert_array_equal(gain, np.full_like(gain, 1e-5), err_msg=name)
