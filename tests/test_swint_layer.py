"""SwinT's Conv2D-like contract: shapes, arguments, errors, training behaviour, tooling."""

from __future__ import annotations

import dataclasses

import numpy as np
import paddle
import pytest

from swint_cli import SwinT
from swint_cli.layer_config import SwinTConfig
from swint_cli.nn import swint_flops
from swint_cli.recipe.schema import ReplaceRule


def test_article_call_keeps_resolution() -> None:
    layer = SwinT(
        in_channels=96,
        out_channels=256,
        input_resolution=(224, 224),
        num_heads=8,
        window_size=7,
        downsample=False,
    )
    layer.eval()
    with paddle.no_grad():
        assert layer(paddle.ones([2, 96, 224, 224])).shape == [2, 256, 224, 224]


def test_article_call_downsample_halves_resolution() -> None:
    layer = SwinT(96, 256, (224, 224), 8, 7, None, None, None, None, None, downsample=True)
    layer.eval()
    with paddle.no_grad():
        assert layer(paddle.ones([2, 96, 224, 224])).shape == [2, 256, 112, 112]


@pytest.mark.parametrize(
    ("size", "downsample", "expected"),
    [
        ((5, 7), True, (3, 4)),
        ((1, 1), True, (1, 1)),
        ((15, 20), False, (15, 20)),
        ((3, 9), False, (3, 9)),
    ],
)
def test_any_resolution_gives_conv_shaped_output(
    size: tuple[int, int], downsample: bool, expected: tuple[int, int]
) -> None:
    layer = SwinT(8, 6, num_heads=2, window_size=4, downsample=downsample)
    out = layer(paddle.randn([2, 8, *size]))
    assert out.shape == [2, 6, *expected]


def test_upsample_doubles_resolution_like_a_transposed_conv() -> None:
    layer = SwinT(16, 8, num_heads=2, window_size=4, upsample=True)  # Swin-Unet: C -> C/2
    assert layer.proj is None and layer.merge is None
    assert layer.expand.expand.weight.shape == [16, 32]  # Linear(C -> 2C), no bias
    assert layer.expand.expand.bias is None
    assert layer(paddle.randn([2, 16, 5, 3])).shape == [2, 8, 10, 6]
    assert layer.output_size(5, 3) == (10, 6)


def test_equal_channels_have_no_projection() -> None:
    assert SwinT(8, 8, num_heads=2).proj is None
    assert SwinT(8, 16, num_heads=2).proj is not None


def test_default_heads_are_32_channels_wide() -> None:
    assert SwinT(96, 96).num_heads == 3
    assert SwinT(8, 8).num_heads == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_heads": 5}, r"num_heads \(5\) must divide in_channels \(96\)"),
        ({"window_size": 0}, "window_size must be a positive int"),
        ({"droppath": -0.1}, r"droppath must be in \[0, 1\)"),
        ({"dropout": 1.5}, r"dropout must be in \[0, 1\)"),
        ({"attention_dropout": -1}, "attention_dropout"),
        ({"mlp_ratio": 0}, "mlp_ratio must be positive"),
        ({"input_resolution": (0, 4)}, "input_resolution"),
        ({"qk_scale": -1.0}, "qk_scale"),
        ({"downsample": True, "upsample": True}, "downsample and upsample cannot both be True"),
    ],
)
def test_impossible_settings_raise_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SwinT(96, 96, **kwargs)


def test_wrong_input_size_is_refused_when_resolution_declared() -> None:
    layer = SwinT(8, 8, input_resolution=(8, 8), num_heads=2, window_size=4)
    with pytest.raises(ValueError, match=r"built for input_resolution \(8, 8\), got input 4x8"):
        layer(paddle.randn([1, 8, 4, 8]))


def test_wrong_channel_count_is_refused() -> None:
    with pytest.raises(ValueError, match="expects 8 input channels, got 4"):
        SwinT(8, 8, num_heads=2)(paddle.randn([1, 4, 8, 8]))


def test_small_declared_resolution_shrinks_window_and_table() -> None:
    layer = SwinT(8, 8, input_resolution=(5, 6), num_heads=2, window_size=7)
    assert layer.window_size == 5
    table = layer.blocks[0].attn.relative_position_bias_table
    assert table.shape == [81, 2]


def test_masks_are_cached_per_size() -> None:
    layer = SwinT(8, 8, num_heads=2, window_size=2)
    block = layer.blocks[1]
    layer(paddle.randn([1, 8, 6, 6]))
    first = block._mask_cache[(6, 6, 2, 1)]
    layer(paddle.randn([2, 8, 6, 6]))
    layer(paddle.randn([1, 8, 8, 4]))
    assert block._mask_cache[(6, 6, 2, 1)] is first
    assert set(block._mask_cache) == {(6, 6, 2, 1), (8, 4, 2, 1)}


def test_gradients_reach_every_parameter() -> None:
    for downsample, c_out in ((False, 12), (True, 12)):
        layer = SwinT(8, c_out, num_heads=2, window_size=3, downsample=downsample)
        x = paddle.randn([2, 8, 7, 6])
        x.stop_gradient = False
        (layer(x) ** 2).mean().backward()
        for name, param in layer.named_parameters():
            assert param.grad is not None, name
            assert float(param.grad.abs().sum()) > 0, name
        assert float(x.grad.abs().sum()) > 0


def test_drop_path_is_active_in_train_and_off_in_eval() -> None:
    layer = SwinT(8, 8, num_heads=2, window_size=3, droppath=0.5)
    x = paddle.randn([16, 8, 6, 6])
    layer.train()
    a, b = layer(x).numpy(), layer(x).numpy()
    assert not np.allclose(a, b)
    # With drop path 0.5 on both branches of both blocks, some samples lose every branch
    # and pass through unchanged.
    unchanged = [np.allclose(a[i], x.numpy()[i]) for i in range(16)]
    assert any(unchanged) and not all(unchanged)

    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())


def _zero_fraction(layer: SwinT, sublayer: paddle.nn.Layer, x: paddle.Tensor) -> float:
    """The fraction of exact zeros in ``sublayer``'s output during one forward pass (0 when
    it is not called: attention dropout at rate 0 is skipped by the fused attention)."""
    seen: list[float] = []

    def hook(module, inputs, output) -> None:
        seen.append(float((output == 0).astype("float32").mean()))

    handle = sublayer.register_forward_post_hook(hook)
    try:
        layer(x)
    finally:
        handle.remove()
    return seen[0] if seen else 0.0


@pytest.mark.parametrize("which", ["dropout", "attention_dropout"])
def test_dropout_rates_act_in_training_and_not_in_eval(which: str) -> None:
    """Softmax weights and GELU-MLP outputs are never exactly 0, so the zeros after each
    dropout are its drops: about the configured share in training, none in eval."""
    layer = SwinT(8, 8, num_heads=2, window_size=4, **{which: 0.3})
    block = layer.blocks[0]
    sublayer = block.attn.attn_drop if which == "attention_dropout" else block.mlp.drop
    other = block.mlp.drop if which == "attention_dropout" else block.attn.attn_drop
    x = paddle.randn([4, 8, 8, 8])
    layer.train()
    assert _zero_fraction(layer, sublayer, x) == pytest.approx(0.3, abs=0.03)
    assert _zero_fraction(layer, other, x) == 0.0  # the other rate is 0
    layer.eval()
    assert _zero_fraction(layer, sublayer, x) == 0.0
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())


def test_analytic_flops_match_hand_count() -> None:
    # 8x8 map, C=4, window 4 (shift 2), mlp hidden 16, C_out 8 through a projection.
    # Per block: qkv 64*4*12 + scores 64*16*4 + attn@v 64*16*4 + proj 64*4*4 + mlp 2*64*4*16
    per_block = 64 * 4 * 12 + 2 * 64 * 16 * 4 + 64 * 4 * 4 + 2 * 64 * 4 * 16
    projection = 64 * 4 * 8
    assert SwinT(4, 8, num_heads=1, window_size=4).flops(8, 8) == 2 * per_block + projection
    # 5x5 with window 2 pads attention to 6x6; merging works on ceil(5/2)^2 = 9 tokens.
    attn = 36 * 4 * 12 + 2 * 36 * 4 * 4 + 36 * 4 * 4
    mlp = 2 * 25 * 4 * 16
    merge = 9 * 16 * 8
    assert swint_flops(4, 8, 5, 5, 2, downsample=True) == 2 * (attn + mlp) + merge
    expand = 25 * 4 * (4 * 8)  # every token: Linear(4 -> 4 * 8)
    assert swint_flops(4, 8, 5, 5, 2, upsample=True) == 2 * (attn + mlp) + expand


def _model_with_swint() -> paddle.nn.Layer:
    return paddle.nn.Sequential(
        paddle.nn.Conv2D(3, 8, 3, padding=1), SwinT(8, 16, num_heads=2, window_size=4)
    )


def test_paddle_summary_counts_every_swint_parameter() -> None:
    model = _model_with_swint()
    info = paddle.summary(model, (1, 3, 8, 8))
    assert info["total_params"] == sum(int(np.prod(p.shape)) for p in model.parameters())


def test_paddle_flops_counts_none_of_swint_or_fails_on_numpy_2_4() -> None:
    """paddle.flops counts only the layer types it knows; SwinT's layers are its own, so it
    adds nothing for them (why swint counts SwinT analytically). With NumPy >= 2.4 it fails
    on any model (int() of a 1-element array inside Paddle), as the README says; swint's
    counts do not use it."""
    conv = 3 * 3 * 3 * 8 * 8 * 8 + 8 * 8 * 8  # k k C_in C_out H W, plus one op per output (bias)
    numpy_version = tuple(int(part) for part in np.__version__.split(".")[:2])
    if numpy_version >= (2, 4):
        with pytest.raises(TypeError):
            paddle.flops(paddle.nn.Sequential(paddle.nn.Conv2D(3, 8, 3)), [1, 3, 8, 8])
    else:
        assert paddle.flops(_model_with_swint(), [1, 3, 8, 8]) == conv


def test_linear_weights_start_as_in_swin() -> None:
    layer = SwinT(64, 96, num_heads=2)
    for name, param in layer.named_parameters():
        if name.endswith("weight") and param.ndim == 2:  # Linear weights (in, out)
            values = param.numpy()
            assert abs(values.std() - 0.02) < 0.003, name
        elif name.endswith("bias") and "norm" not in name:
            assert not param.numpy().any(), name


def test_from_config_builds_the_layer_its_keywords_build() -> None:
    config = SwinTConfig(num_heads=2, window_size=4, dropout=0.1, layer_scale=1e-5)
    built = SwinT.from_config(8, 16, config, input_resolution=(8, 8), downsample=True)
    keywords = SwinT(
        8, 16, (8, 8), num_heads=2, window_size=4, dropout=0.1, layer_scale=1e-5, downsample=True
    )
    assert built.config == keywords.config == config
    assert [(n, p.shape) for n, p in built.named_parameters()] == [
        (n, p.shape) for n, p in keywords.named_parameters()
    ]


def test_a_replace_rule_is_the_config_plus_its_slots_and_hybrid() -> None:
    rule = ReplaceRule(slots="stage1.conv2", window_size=4, residual_norm="post", hybrid=True)
    names = [spec.name for spec in dataclasses.fields(SwinTConfig)]
    assert list(ReplaceRule.model_fields) == ["slots", *names, "hybrid"]
    for spec in dataclasses.fields(SwinTConfig):
        assert ReplaceRule.model_fields[spec.name].default == spec.default, spec.name
    assert rule.swint_config() == SwinTConfig(window_size=4, residual_norm="post")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"window_size": 2.5}, "window_size must be a positive int"),
        ({"residual_norm": "middle"}, "residual_norm must be one of pre, post, post_zero"),
        ({"layer_scale": 0}, "layer_scale must be positive"),
    ],
)
def test_a_config_out_of_bounds_is_refused_where_it_is_made(setting: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SwinTConfig(**setting)
