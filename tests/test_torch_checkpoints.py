"""PyTorch checkpoints read without torch: the authors' own files in ../shared/data/pretrained
(saved by torch from torchvision's and the official Swin's code, with the outputs that code
computed), a planted pickle that would run a command, and damaged files."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import paddle
import pytest
from conftest import require_or_skip

from swint_cli.files import ArrayFileError, read_arrays
from swint_cli.files.torch_checkpoint import read_torch_checkpoint
from swint_cli.layer_config import SwinTConfig
from swint_cli.models import ModelError, build_backbone, build_model, load_weights
from swint_cli.models.relative_position_tables import resize_table
from swint_cli.models.swin_transformer import SwinConfig, SwinTransformer
from swint_cli.models.weight_formats import (
    WeightFormatError,
    detect_format,
    from_swin_official,
    from_torchvision,
)
from swint_cli.recipe import load_recipe

PRETRAINED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pretrained"
RESNET18 = PRETRAINED / "torchvision-resnet18-10cls"


def _fixture(stem: Path) -> Path:
    path = stem.with_suffix(".pth")
    if not path.is_file():
        require_or_skip("SWINT_REQUIRE_CIFAR", f"{path} not present (shared test data)")
    return path


def _checkpoint(path: Path, pickled: bytes, buffers: dict[str, bytes] | None = None) -> Path:
    """A zip-format checkpoint as torch.save lays it out, holding ``pickled`` as data.pkl."""
    top = path.stem
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{top}/data.pkl", pickled)
        archive.writestr(f"{top}/byteorder", "little")
        for key, data in (buffers or {}).items():
            archive.writestr(f"{top}/data/{key}", data)
    return path


def test_torchvision_resnet18_gives_the_logits_torchvision_computed() -> None:
    path = _fixture(RESNET18)
    model = build_backbone("resnet18", 10)
    report = load_weights(model, str(path))
    assert (report.fresh, report.format, report.loaded) == ({}, "torchvision", 102)
    model.eval()
    images = np.load(RESNET18.with_suffix(".input.npy"))
    want = np.load(RESNET18.with_suffix(".logits.npy"))
    with paddle.no_grad():
        got = model(paddle.to_tensor(images)).numpy()
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_the_reader_gives_every_tensor_with_its_shape_and_bytes() -> None:
    """Against the archive itself: conv1's weight is storage data/0's first 64*3*7*7 floats,
    the BatchNorm counter an int64 scalar."""
    path = _fixture(RESNET18)
    arrays = read_torch_checkpoint(path)
    assert len(arrays) == 122 and arrays["conv1.weight"].shape == (64, 3, 7, 7)
    with zipfile.ZipFile(path) as archive:
        top = archive.namelist()[0].split("/")[0]
        raw = np.frombuffer(archive.read(f"{top}/data/0"), "<f4")
    np.testing.assert_array_equal(arrays["conv1.weight"].ravel(), raw[: 64 * 3 * 7 * 7])
    counter = arrays["bn1.num_batches_tracked"]
    assert counter.shape == () and counter.dtype == np.int64


def test_torch_names_and_layouts_become_paddles() -> None:
    arrays = {
        "bn.running_mean": np.zeros(3),
        "bn.running_var": np.ones(3),
        "bn.num_batches_tracked": np.array(7),
        "fc.weight": np.arange(6.0).reshape(2, 3),  # torch: [out, in]
        "conv.weight": np.zeros((4, 3, 1, 1)),
    }
    assert detect_format(arrays) == "torchvision"
    converted = from_torchvision(arrays)
    assert sorted(converted) == ["bn._mean", "bn._variance", "conv.weight", "fc.weight"]
    np.testing.assert_array_equal(converted["fc.weight"], [[0, 3], [1, 4], [2, 5]])
    assert converted["conv.weight"].shape == (4, 3, 1, 1)
    assert detect_format({"fc.weight": np.zeros((3, 2))}) == "paddle"


def _text(value: str) -> bytes:
    """Pickle opcode BINUNICODE: ``value`` on the stack."""
    return b"X" + len(value.encode()).to_bytes(4, "little") + value.encode()


def test_a_strided_tensor_and_the_model_wrapper_are_read_as_torch_lays_them_out(
    tmp_path: Path,
) -> None:
    """``{'model': {'w': t}, 'epoch': 3}`` with ``t`` a transposed view (offset 1, size
    (3, 2), strides (1, 3)) of a 7-float storage, written opcode by opcode as torch.save's
    protocol-2 pickle has it."""
    storage = b"((" + _text("storage") + b"ctorch\nFloatStorage\n" + _text("0") + _text("cpu")
    storage += b"K\x07tQ"  # numel 7, TUPLE, BINPERSID
    tensor = b"ctorch._utils\n_rebuild_tensor_v2\n" + storage
    tensor += b"K\x01K\x03K\x02\x86K\x01K\x03\x86\x89}tR"  # offset, size, stride, no grad, hooks
    pickled = b"\x80\x02}(" + _text("model") + b"}(" + _text("w") + tensor + b"u"
    pickled += _text("epoch") + b"K\x03u."
    values = np.arange(7, dtype="<f4").tobytes()
    path = _checkpoint(tmp_path / "view.pth", pickled, {"0": values})
    arrays, _ = read_arrays(path)
    assert list(arrays) == ["w"]
    np.testing.assert_array_equal(arrays["w"], [[1, 4], [2, 5], [3, 6]])


def test_a_pickle_that_would_run_a_command_is_refused_and_the_command_never_runs(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    command = f"touch {marker}"
    # GLOBAL os.system, the command as its argument, REDUCE: what pickle.load would call
    planted = b"\x80\x02cos\nsystem\n" + _text(command) + b"\x85R."
    path = _checkpoint(tmp_path / "planted.pth", planted)
    with pytest.raises(ArrayFileError) as refused:
        read_arrays(path)
    assert str(refused.value) == f"{path}: not loaded: refused to load os.system: not plain data"
    assert not marker.exists()
    model = build_backbone("resnet18", 10)
    with pytest.raises(ModelError, match=r"refused to load os\.system"):
        load_weights(model, str(path))
    assert not marker.exists()


def test_truncated_legacy_and_odd_checkpoints_are_one_line_each(tmp_path: Path) -> None:
    path = _fixture(RESNET18)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps({"w": 1}, protocol=2))
    listed = _checkpoint(tmp_path / "list.pth", pickle.dumps([1, 2], protocol=2))
    expected = {
        truncated: "a damaged or truncated checkpoint (no zip directory)",
        legacy: "not a zip-format PyTorch checkpoint (written by torch < 1.6, or not a "
        "checkpoint); re-save it with torch.save from torch >= 1.6",
        listed: "holds a list, not a state dict",
    }
    for file, reason in expected.items():
        with pytest.raises(ArrayFileError) as error:
            read_arrays(file)
        assert str(error.value) == f"{file}: {reason}"


SWIN = PRETRAINED / "official-swin-small-w4"


def _small_swin(window: int) -> SwinTransformer:
    """The fixture's model in swint's classes: embed 24, depths (2, 2), heads (2, 4), patch 2."""
    config = SwinConfig(embed_dim=24, depths=(2, 2), num_heads=(2, 4), drop_path_rate=0.0)
    return SwinTransformer(5, config, patch_size=2, layer=SwinTConfig(window_size=window))


def test_the_official_swin_gives_the_features_and_logits_its_code_computed() -> None:
    path = _fixture(SWIN)
    model = _small_swin(window=4)
    assert load_weights(model, str(path)).fresh == {}
    model.eval()
    images = paddle.to_tensor(np.load(SWIN.with_suffix(".input.npy")))
    with paddle.no_grad():
        tokens = model.layers(model.patch_embed(images)).transpose([0, 2, 3, 1])  # (N, h, w, C)
        features = model.norm(tokens).mean(axis=[1, 2]).numpy()
        logits = model(images).numpy()
    for got, name in ((features, "features"), (logits, "logits")):
        want = np.load(SWIN.with_suffix(f".{name}.npy"))
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), name


def test_official_names_map_onto_swint_pairs_and_its_buffers_are_dropped() -> None:
    arrays = read_torch_checkpoint(_fixture(SWIN))
    assert detect_format(arrays) == "swin_official"
    converted = from_swin_official(arrays)
    # stage 1's blocks 0-1 are swint's second pair; stage 0's downsample ends the first pair
    np.testing.assert_array_equal(
        converted["layers.1.blocks.1.attn.qkv.weight"],
        arrays["layers.1.blocks.1.attn.qkv.weight"].T,
    )
    assert converted["layers.0.merge.reduction.weight"].shape == (96, 48)
    assert "fc.weight" in converted and "head.weight" not in converted
    assert not [key for key in converted if key.endswith(("relative_position_index", "attn_mask"))]
    odd = {
        "layers.0.blocks.0.norm1.weight": np.ones(2),
        "layers.0.downsample.norm.weight": np.ones(8),
    }
    with pytest.raises(WeightFormatError, match="stage 0 has 1 blocks"):
        from_swin_official(odd)


def test_a_table_for_window_4_is_resized_for_window_8_as_timm_does() -> None:
    arrays = read_torch_checkpoint(_fixture(SWIN))
    table = arrays["layers.0.blocks.0.attn.relative_position_bias_table"]  # (7*7, 2)
    want = np.load(SWIN.with_suffix(".block0-table-to-w8.npy"))  # (15*15, 2), timm's
    np.testing.assert_allclose(resize_table(table, 15 * 15), want, atol=1e-5, rtol=0)
    model = _small_swin(window=8)  # the loader resizes every table to the model's window
    load_weights(model, str(_fixture(SWIN)))
    loaded = model.state_dict()["layers.0.blocks.0.attn.relative_position_bias_table"]
    np.testing.assert_allclose(loaded.numpy(), want, atol=1e-5, rtol=0)


def test_a_swin_t_recipe_with_the_small_args_loads_the_official_checkpoint(
    tmp_path: Path,
) -> None:
    """As a user writes it: ``backbone: swin_t`` with ``model.args`` and the ``.pth``."""
    recipe = tmp_path / "swin.yaml"
    recipe.write_text(
        "model:\n  backbone: swin_t\n  num_classes: 5\n"
        "  args: {embed_dim: 24, depths: [2, 2], num_heads: [2, 4], window_size: 4, "
        f"patch_size: 2}}\n  weights: {_fixture(SWIN)}\ndata:\n  image_size: 32\n"
    )
    model, _ = build_model(load_recipe(recipe).model, 32)
    model.eval()
    with paddle.no_grad():
        logits = model(paddle.to_tensor(np.load(SWIN.with_suffix(".input.npy")))).numpy()
    want = np.load(SWIN.with_suffix(".logits.npy"))
    assert np.abs(logits - want).max() <= 1e-4 * np.abs(want).max()
