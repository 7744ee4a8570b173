"""Backbones by name, heads, and loading local weights."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import paddle
import pytest
from paddle import nn

from swint_cli.models import (
    ModelError,
    SmallCNN,
    build_backbone,
    build_model,
    find_conv_slots,
    load_weights,
)
from swint_cli.nn import SwinT
from swint_cli.nn.heads import build_head
from swint_cli.recipe.schema import ModelSection, ReplaceRule

STRICT = r"\(model\.weights_strict: false loads what fits\)$"


def logits(model: nn.Layer, size: int = 32) -> np.ndarray:
    model.eval()
    with paddle.no_grad():
        return model(paddle.ones([1, 3, size, size])).numpy()


@pytest.mark.parametrize(
    ("name", "features"),
    [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048), ("resnet101", 2048)],
)
def test_resnet_gets_a_linear_head_of_its_feature_width(name: str, features: int) -> None:
    model = build_backbone(name, 7, "linear")
    assert isinstance(model.fc, nn.Linear)
    assert model.fc.weight.shape == [features, 7]


@pytest.mark.parametrize("name", ["resnet18", "small_cnn"])
def test_backbone_maps_images_to_logits(name: str) -> None:
    assert logits(build_backbone(name, 7, "article")).shape == (1, 7)


def test_article_head_is_the_swinresnet_head() -> None:
    head = build_head("article", 2048, 10)
    kinds = [type(layer) for layer in head.children()]
    assert kinds == [nn.Dropout, nn.Linear, nn.LayerNorm, nn.Dropout, nn.LeakyReLU, nn.Linear]
    assert [head[0].p, head[3].p] == [0.2, 0.2]
    assert head[1].weight.shape == [2048, 256]
    assert head[5].weight.shape == [256, 10]


def test_unknown_backbone_lists_valid_names() -> None:
    with pytest.raises(ModelError, match=r"unknown backbone 'resnet5' \(valid: resnet18, .*"):
        build_backbone("resnet5", 10)


def test_unknown_head_lists_valid_kinds() -> None:
    with pytest.raises(ModelError, match=r"unknown head 'mlp' \(valid: linear, article\)"):
        build_backbone("resnet18", 2, "mlp")


def test_small_cnn_is_small_with_stage_slots_for_32x32() -> None:
    model = SmallCNN(10)
    assert sum(int(np.prod(p.shape)) for p in model.parameters()) < 2_000_000
    slots = {s.path: s for s in find_conv_slots(model, 32)}
    assert list(slots) == [
        "stem",
        "stage1.conv1",
        "stage1.conv2",
        "stage2.conv1",
        "stage2.conv2",
        "stage3.conv1",
        "stage3.conv2",
    ]
    assert (slots["stage2.conv1"].in_channels, slots["stage2.conv1"].stride) == (64, (2, 2))
    assert slots["stage1.conv2"].input_size == (16, 16)
    assert slots["stage2.conv2"].input_size == (8, 8)
    assert (slots["stage3.conv2"].out_channels, slots["stage3.conv2"].input_size) == (256, (4, 4))


def save(model: nn.Layer, path: Path, **changes: object) -> str:
    state = dict(model.state_dict())
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    paddle.save(state, str(path))
    return str(path)


def test_load_weights_round_trip_gives_same_outputs(tmp_path: Path) -> None:
    source = build_backbone("small_cnn", 10)
    target = build_backbone("small_cnn", 10)
    assert load_weights(target, save(source, tmp_path / "w.pdparams")).fresh == {}
    np.testing.assert_array_equal(logits(target), logits(source))


def test_load_weights_skips_a_head_with_other_classes_and_returns_its_keys(
    tmp_path: Path,
) -> None:
    source = build_backbone("small_cnn", 1000)
    target = build_backbone("small_cnn", 10)
    report = load_weights(target, save(source, tmp_path / "w.pdparams"))
    assert report.fresh == {"fc.weight": "head", "fc.bias": "head"}
    assert report.loaded == len(target.state_dict()) - 2 and report.format == "paddle"
    np.testing.assert_array_equal(target.stage3.conv2.weight.numpy(), source.stage3.conv2.weight)


def test_load_weights_skips_linear_head_keys_for_an_article_head(tmp_path: Path) -> None:
    path = save(build_backbone("small_cnn", 10, "linear"), tmp_path / "w.pdparams")
    fresh = load_weights(build_backbone("small_cnn", 10, "article"), path).fresh
    assert list(fresh) == [f"fc.{i}.{p}" for i in (1, 2, 5) for p in ("weight", "bias")]


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"weights file .*nope\.pdparams not found"):
        load_weights(SmallCNN(2), str(tmp_path / "nope.pdparams"))


def test_unreadable_weights_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdparams"
    path.write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match=r"weights file .*junk\.pdparams: not a readable "):
        load_weights(SmallCNN(2), str(path))


def test_weights_file_without_a_state_dict_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "tensor.pdparams")
    paddle.save(paddle.ones([2]), path)
    with pytest.raises(ModelError, match=r"tensor\.pdparams: holds a \w+, not a state dict"):
        load_weights(SmallCNN(2), path)


def test_shape_mismatch_names_the_first_key_and_both_shapes(tmp_path: Path) -> None:
    path = save(SmallCNN(2), tmp_path / "w.pdparams", **{"stem.weight": paddle.ones([32, 3, 5, 5])})
    with pytest.raises(
        ModelError,
        match=r"w\.pdparams does not fit the model: stem\.weight has shape \[32, 3, 5, 5\] in "
        r"the file, \[32, 3, 3, 3\] in the model " + STRICT,
    ):
        load_weights(SmallCNN(2), path)


def test_backbone_key_missing_from_the_file_is_an_error(tmp_path: Path) -> None:
    path = save(SmallCNN(2), tmp_path / "w.pdparams", **{"stage1.bn1.weight": None})
    with pytest.raises(ModelError, match=r"the file lacks stage1\.bn1\.weight " + STRICT):
        load_weights(SmallCNN(2), path)


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    path = save(build_backbone("resnet18", 2), tmp_path / "r18.pdparams")
    with pytest.raises(ModelError, match=r"r18\.pdparams does not fit .* \(\+\d+ more\) " + STRICT):
        load_weights(SmallCNN(2), path)


def test_unexpected_backbone_key_is_an_error(tmp_path: Path) -> None:
    path = save(SmallCNN(2), tmp_path / "w.pdparams", **{"extra.weight": paddle.ones([1])})
    with pytest.raises(ModelError, match=r"the model has no extra\.weight " + STRICT):
        load_weights(SmallCNN(2), path)


def test_build_model_loads_weights_before_surgery(tmp_path: Path) -> None:
    source = build_backbone("small_cnn", 5)
    section = ModelSection(
        backbone="small_cnn",
        num_classes=10,
        weights=save(source, tmp_path / "w.pdparams"),
        replace=[ReplaceRule(slots="stage3.conv2", num_heads=4, window_size=4)],
    )
    model, report = build_model(section, 32)
    assert isinstance(model.stage3.conv2, SwinT)
    np.testing.assert_array_equal(model.stage3.conv1.weight.numpy(), source.stage3.conv1.weight)
    fresh = {"fc.weight": "head", "fc.bias": "head", "stage3.conv2.weight": "swapped"}
    assert report.weights is not None and report.weights.fresh == fresh


def test_small_cnn_and_unet_keep_their_state_dict_names() -> None:
    """Checkpoints hold these names: the blocks may change, the names may not."""
    pair = [f"{layer}.{name}" for layer in ("conv1", "bn1", "conv2", "bn2") for name in ("weight",)]
    norms = [f"{bn}.{name}" for bn in ("bn1", "bn2") for name in ("bias", "_mean", "_variance")]
    small = SmallCNN(10).state_dict()
    for stage in ("stage1", "stage2", "stage3"):
        assert {f"{stage}.{key}" for key in pair + norms} <= set(small)
    assert len(small) == 1 + 4 + 3 * 10 + 2  # stem conv, stem BN (4), 3 stages, fc
    unet = build_backbone("unet", 3).state_dict()
    assert {f"down1.{key}" for key in pair + norms} <= set(unet)
    assert {"up1.up.weight", "up1.up.bias", "head.weight", "head.bias"} <= set(unet)


def test_float64_weights_load_into_float32_layers(tmp_path: Path) -> None:
    source = build_backbone("small_cnn", 10)
    path = tmp_path / "w64.pdparams"
    with open(path, "wb") as file:
        pickle.dump({k: v.numpy().astype("float64") for k, v in source.state_dict().items()}, file)
    target = build_backbone("small_cnn", 10)
    assert load_weights(target, str(path)).fresh == {}
    np.testing.assert_allclose(logits(target), logits(source), rtol=1e-6, atol=1e-6)


def test_weights_of_another_kind_of_number_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ints.pdparams"
    state = {k: v.numpy() for k, v in SmallCNN(2).state_dict().items()}
    state["stem.weight"] = state["stem.weight"].astype("int64")
    with open(path, "wb") as file:
        pickle.dump(state, file)
    with pytest.raises(ModelError, match=r"stem\.weight holds int64, the model float32 " + STRICT):
        load_weights(SmallCNN(2), str(path))


def test_backbone_linear_layers_compute_through_the_products() -> None:
    """Every Linear of a backbone (a ResNet's head here) is the layer library's Linear, with
    paddle.nn.Linear's parameters, so bf16 autocast reaches it."""
    from paddle import nn

    from swint_cli.nn.layers import Linear

    model = build_backbone("resnet18", 10)
    linears = [layer for layer in model.sublayers() if isinstance(layer, nn.Linear)]
    assert linears and all(type(layer) is Linear for layer in linears)
    assert list(model.fc.state_dict()) == ["weight", "bias"]


def test_model_args_build_a_small_swin_and_a_wide_resnet() -> None:
    args = {"embed_dim": 24, "depths": [2, 2], "num_heads": [2, 4], "window_size": 4}
    swin = build_backbone("swin_t", 5, args={**args, "patch_size": 2})
    assert [layer.blocks[0].attn.num_heads for layer in swin.layers] == [2, 4]
    assert swin.patch_embed.proj.weight.shape == [24, 3, 2, 2]
    assert swin.layers[0].blocks[0].attn.relative_position_bias_table.shape == [7 * 7, 2]
    assert swin(paddle.randn([1, 3, 32, 32])).shape == [1, 5]
    wide = build_backbone("resnet50", 10, args={"width": 128})
    assert wide.layer1[0].conv1.weight.shape == [128, 64, 1, 1]  # 64 * 128/64 wide


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        (
            "swin_t",
            {"window": 4},
            "model.args: swin_t has no 'window' (takes patch_size, embed_dim, depths, "
            "num_heads, window_size, mlp_ratio)",
        ),
        ("small_cnn", {"width": 2}, "model.args: small_cnn has no 'width' (takes none)"),
        (
            "swin_t",
            {"depths": [2, 3], "num_heads": [2, 4]},
            "model.args of swin_t: depths must be even and match num_heads",
        ),
    ],
)
def test_model_args_that_do_not_fit_the_factory_are_one_line(
    name: str, args: dict, message: str
) -> None:
    with pytest.raises(ModelError) as error:
        build_backbone(name, 10, args=args)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)
