"""Conv2D -> SwinT surgery: slot discovery, rule matching, refusals, verification, FLOPs."""

from __future__ import annotations

from pathlib import Path

import paddle
import pytest
from paddle import nn
from rich.console import Console

from swint_cli.models import (
    ModelError,
    SmallCNN,
    build_backbone,
    build_model,
    find_conv_slots,
    model_flops,
    replace_slots,
    slots_table,
)
from swint_cli.nn import SwinT
from swint_cli.recipe import load_recipe
from swint_cli.recipe.schema import ModelSection, ReplaceRule

RECIPES = Path(__file__).parent.parent / "recipes"


def rule(slots: str | list[str], **settings: object) -> ReplaceRule:
    return ReplaceRule(slots=slots, **settings)


class Tiny(nn.Layer):
    """3 -> 8 stem, then the Conv2D under test as ``conv`` (8 channels in), pool, ``fc``."""

    def __init__(self, conv: nn.Conv2D) -> None:
        super().__init__()
        self.stem = nn.Conv2D(3, 8, 3, padding=1)
        self.conv = conv
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(conv._out_channels, 2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(self.pool(self.conv(self.stem(x))).flatten(1))


def forward(model: nn.Layer, size: int) -> paddle.Tensor:
    model.eval()
    with paddle.no_grad():
        return model(paddle.ones([1, 3, size, size]))


def test_slots_come_in_named_sublayers_order_with_their_sizes() -> None:
    slots = find_conv_slots(build_backbone("resnet50", 10), 64)
    paths = [s.path for s in slots]
    assert paths[:5] == [
        "conv1",
        "layer1.0.conv1",
        "layer1.0.conv2",
        "layer1.0.conv3",
        "layer1.0.downsample.0",
    ]
    down = slots[paths.index("layer2.0.conv2")]
    assert (down.in_channels, down.out_channels) == (128, 128)
    assert (down.kernel, down.stride) == ((3, 3), (2, 2))
    assert (down.input_size, down.output_size, down.params) == ((16, 16), (8, 8), 128 * 128 * 9)


def test_resnet18_slots_at_224_see_56_28_14_7() -> None:
    slots = {s.path: s.input_size for s in find_conv_slots(build_backbone("resnet18", 10), 224)}
    assert slots["conv1"] == (224, 224)
    sizes = [slots[f"layer{i}.1.conv2"] for i in range(1, 5)]
    assert sizes == [(56, 56), (28, 28), (14, 14), (7, 7)]


def test_finding_slots_restores_training_flags_and_removes_hooks() -> None:
    model = SmallCNN(10)
    model.train()
    model.stage1.bn1.training = False
    find_conv_slots(model, 32)
    assert model.training and model.stage2.bn1.training
    assert not model.stage1.bn1.training
    assert not any(layer._forward_post_hooks for layer in model.sublayers())


def test_stride_two_slot_becomes_downsampling_swint() -> None:
    model = SmallCNN(10)
    report = replace_slots(model, [rule("stage2.conv1", num_heads=4, window_size=4)], 32)
    swint = model.stage2.conv1
    assert isinstance(swint, SwinT)
    assert (swint.downsample, swint.input_resolution) == (True, (16, 16))
    assert (swint.in_channels, swint.out_channels) == (64, 128)
    assert [(path, index) for path, index, _ in report.replaced] == [("stage2.conv1", 0)]


def test_rule_settings_reach_the_swint() -> None:
    model = SmallCNN(10)
    settings = dict(num_heads=8, window_size=4, mlp_ratio=2.0, qkv_bias=False, droppath=0.1)
    replace_slots(model, [rule("stage2.conv2", **settings)], 32)
    swint = model.stage2.conv2
    assert (swint.num_heads, swint.window_size, swint.mlp_ratio) == (8, 4, 2.0)
    assert (swint.downsample, swint.input_resolution) == (False, (8, 8))
    assert swint.blocks[0].attn.qkv.bias is None
    assert swint.blocks[1].drop_path.drop_prob == 0.1


def test_replaced_model_keeps_logits_shape_and_training_mode() -> None:
    model = SmallCNN(10)
    model.train()
    replace_slots(model, [rule(["stage2.*", "stage3.conv2"], num_heads=4, window_size=4)], 32)
    assert model.stage3.conv2.training and model.stage3.conv2.blocks[0].training
    assert forward(model, 32).shape == [1, 10]


def test_swinresnet_rules_replace_all_16_bottleneck_convs() -> None:
    rules = [
        rule(f"layer{stage}.*.conv2", num_heads=heads, window_size=7)
        for stage, heads in zip((1, 2, 3, 4), (4, 8, 16, 32), strict=True)
    ]
    model, report = build_model(
        ModelSection(backbone="resnet50", num_classes=10, head="article", replace=rules), 64
    )
    assert report.swint_count == len(report.replaced) == 16
    downsampling = [path for path, _, slot in report.replaced if slot.stride == (2, 2)]
    assert downsampling == ["layer2.0.conv2", "layer3.0.conv2", "layer4.0.conv2"]
    assert (model.layer1[0].conv2.num_heads, model.layer4[2].conv2.num_heads) == (4, 32)
    assert report.params_after > report.params_before
    assert forward(model, 64).shape == [1, 10]


def test_quickstart_recipe_builds_on_small_cnn() -> None:
    model, report = build_model(load_recipe(RECIPES / "quickstart.yaml").model, 32)
    assert [path for path, _, _ in report.replaced] == ["stage1.conv2", "stage2.conv2"]
    assert forward(model, 32).shape == [1, 10]


def test_no_rules_leave_the_model_untouched() -> None:
    model = SmallCNN(10)
    report = replace_slots(model, [], 32)
    assert (report.replaced, report.swint_count) == ([], 0)
    assert report.params_before == report.params_after


def test_later_rule_wins_on_overlap() -> None:
    model = SmallCNN(10)
    rules = [rule("stage*.conv2", num_heads=2, window_size=4), rule("stage2.conv2", num_heads=8)]
    report = replace_slots(model, rules, 64)
    assert [(path, index) for path, index, _ in report.replaced] == [
        ("stage1.conv2", 0),
        ("stage2.conv2", 1),
        ("stage3.conv2", 0),
    ]
    assert (model.stage2.conv2.num_heads, model.stage3.conv2.num_heads) == (8, 2)
    assert model.stage2.conv2.window_size == 7  # the later rule's default, not the first's 4


def test_rule_matching_nothing_lists_closest_slots() -> None:
    with pytest.raises(
        ModelError,
        match=r"^model\.replace\[1\]\.slots\[0\]: 'stage3\.conv3' matches no Conv2D slot; "
        r"closest slots: stage3\.conv2, stage3\.conv1, stage2\.conv2$",
    ):
        replace_slots(SmallCNN(10), [rule("stem"), rule("stage3.conv3")], 32)


def test_exact_path_to_a_non_conv_says_what_it_is() -> None:
    with pytest.raises(
        ModelError, match=r"^model\.replace\[0\]\.slots\[1\]: 'stage1\.bn1' is a BatchNorm2D, "
    ):
        replace_slots(SmallCNN(10), [rule(["stem", "stage1.bn1"])], 32)


def test_exact_path_to_a_conv_the_forward_never_calls_says_so() -> None:
    model = Tiny(nn.Conv2D(8, 8, 3, padding=1))
    model.unused = nn.Conv2D(8, 8, 1)
    with pytest.raises(ModelError, match=r"'unused' is a Conv2D the forward pass never calls$"):
        replace_slots(model, [rule("unused")], 16)


@pytest.mark.parametrize(
    ("conv", "message"),
    [
        (nn.Conv2D(8, 8, 3, padding=2, dilation=2), r"dilation=\(2, 2\); "),
        (nn.Conv2D(8, 8, 3, stride=3, padding=1), r"stride=\(3, 3\); "),
        (nn.Conv2D(8, 8, 3, stride=(1, 2), padding=1), r"stride=\(1, 2\); "),
    ],
    ids=["dilated", "stride_3", "unequal_strides"],
)
def test_unsupported_conv_is_refused_naming_the_value(conv: nn.Conv2D, message: str) -> None:
    with pytest.raises(ModelError, match=rf"^model\.replace\[0\] \(conv\): {message}"):
        replace_slots(Tiny(conv), [rule("conv")], 16)


def test_grouped_conv_is_refused() -> None:
    model = build_backbone("small_cnn", 10)
    model.stage1.conv2 = nn.Conv2D(64, 64, 3, padding=1, groups=64)
    with pytest.raises(ModelError, match=r"\(stage1\.conv2\): groups=64; SwinT replaces only"):
        replace_slots(model, [rule("stage1.*", num_heads=4)], 32)


def test_heads_not_dividing_channels_name_the_rule_and_slot() -> None:
    model = SmallCNN(10)
    with pytest.raises(
        ModelError,
        match=r"^model\.replace\[1\] \(stage2\.conv2\): num_heads \(5\) must divide "
        r"in_channels \(128\)$",
    ):
        replace_slots(model, [rule("stage1.conv2"), rule("stage2.conv2", num_heads=5)], 32)
    assert isinstance(model.stage1.conv2, nn.Conv2D)  # nothing replaced on failure


def test_conv_that_shrinks_the_map_fails_verification_and_is_put_back() -> None:
    conv = nn.Conv2D(8, 8, 3, padding=0)  # 16x16 -> 14x14; SwinT keeps 16x16
    model = Tiny(conv)
    with pytest.raises(
        ModelError,
        match=r"^model\.replace\[0\] \(conv\): SwinT gives \[1, 8, 16, 16\] where "
        r"the Conv2D gave \[1, 8, 14, 14\]",
    ):
        replace_slots(model, [rule("conv", num_heads=2, window_size=4)], 16)
    assert model.conv is conv


def test_model_flops_matches_a_hand_count() -> None:
    class Net(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2D(3, 8, 3, stride=2, padding=1)  # 16x16 -> 8x8
            self.swint = SwinT(8, 16, (8, 8), num_heads=2, window_size=4)
            self.fc = nn.Linear(16, 5)

        def forward(self, x: paddle.Tensor) -> paddle.Tensor:
            return self.fc(self.swint(self.conv(x)).mean(axis=[2, 3]))

    conv = 3 * 3 * 3 * 8 * 8 * 8  # k_h k_w C_in C_out H_out W_out
    # Each of the 2 blocks on 64 tokens of 8 channels, 4x4 windows (no padding): qkv and
    # output projections 4*N*C^2, q@k^T and attn@v 2*M^2*N*C, MLP 2*N*C*(4C); then the
    # 8 -> 16 projection N*C_in*C_out. Nothing inside SwinT may be counted twice.
    tokens, dim = 64, 8
    block = 4 * tokens * dim**2 + 2 * 16 * tokens * dim + 2 * tokens * dim * 4 * dim
    swint = 2 * block + tokens * 8 * 16
    assert model_flops(Net(), 16) == conv + swint + 16 * 5


def test_model_flops_of_resnet18_at_224() -> None:
    # torchvision's ResNet-18 is quoted at 1.81 G multiply-accumulates.
    assert model_flops(build_backbone("resnet18", 1000), 224) == pytest.approx(1.814e9, rel=1e-3)


def test_slots_table_marks_replaced_slots() -> None:
    slots = find_conv_slots(SmallCNN(10), 32)
    console = Console(record=True, width=120)
    console.print(slots_table(slots, {"stage2.conv1", "stage3.conv2"}, hybrid={"stage3.conv2"}))
    lines = console.export_text().splitlines()
    header = next(line for line in lines if "path" in line)
    assert [h.strip() for h in header.strip("┃│ ").split("┃")] == [
        "path",
        "in",
        "out",
        "kernel",
        "stride",
        "input",
        "params",
        "replaced",
    ]
    row = next(line for line in lines if "stage2.conv1" in line)
    assert [c.strip() for c in row.strip("│ ").split("│")] == [
        "stage2.conv1",
        "64",
        "128",
        "3x3",
        "2",
        "16x16",
        "73,728",
        "yes",
    ]
    assert sum(" yes " in line for line in lines) == 1
    hybrid = next(line for line in lines if "stage3.conv2" in line)
    assert hybrid.strip("│ ").split("│")[-1].strip() == "hybrid"


def test_slots_table_without_surgery_has_no_replaced_column() -> None:
    console = Console(record=True, width=120)
    console.print(slots_table(find_conv_slots(SmallCNN(10), 32), None))
    assert "replaced" not in console.export_text()
