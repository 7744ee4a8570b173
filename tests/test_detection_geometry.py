"""FCOS's geometry: box coding, GIoU, which box each location learns, and the locations of a
pyramid, against hand-derived cases and a NumPy derivation."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from swint_cli.models.detection.assignment import assign_boxes
from swint_cli.models.detection.boxes import decode, encode, generalized_iou
from swint_cli.models.detection.fcos import Locations


def _tensor(values, dtype="float32") -> paddle.Tensor:
    return paddle.to_tensor(np.asarray(values), dtype=dtype)


def test_encoding_is_the_distances_to_the_sides_in_strides_and_decoding_inverts_it():
    points, scales = _tensor([[10, 20]]), _tensor([4])
    box = _tensor([[[6, 12, 18, 40]]])  # left 4, top 8, right 8, bottom 20 px
    codes = encode(points, scales, box)
    np.testing.assert_allclose(codes.numpy(), [[[1, 2, 2, 5]]])
    np.testing.assert_allclose(decode(points, scales, codes).numpy(), box.numpy())


def _giou_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """GIoU written out per pair in float64 (Rezatofighi et al., Algorithm 1)."""
    out = []
    for (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) in zip(a, b, strict=True):
        area_a, area_b = (ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)
        iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
        ih = max(0.0, min(ay2, by2) - max(ay1, by1))
        inter = iw * ih
        union = area_a + area_b - inter
        hull = (max(ax2, bx2) - min(ax1, bx1)) * (max(ay2, by2) - min(ay1, by1))
        out.append(inter / union - (hull - union) / hull)
    return np.asarray(out)


def test_giou_of_disjoint_unit_boxes_two_apart_is_minus_a_third():
    giou = generalized_iou(_tensor([[0, 0, 1, 1]]), _tensor([[2, 0, 3, 1]]))
    np.testing.assert_allclose(giou.numpy(), [-1 / 3], rtol=1e-5)


def test_giou_matches_a_numpy_derivation_on_random_boxes():
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 50, (2, 64, 2))
    sides = rng.uniform(1, 30, (2, 64, 2))
    a, b = (np.concatenate([c, c + s], axis=1) for c, s in zip(corners, sides, strict=True))
    giou = generalized_iou(_tensor(a), _tensor(b)).numpy()
    np.testing.assert_allclose(giou, _giou_numpy(a, b), atol=1e-5)


# Two levels: stride 8 (the finest: no lower bound, upper 64) and 16 (the coarsest: lower 64,
# no upper bound). Boxes: A (class 1), B inside A (class 0), a big C (class 2), and padding.
POINTS = [[4, 4], [12, 12], [20, 20], [16, 16], [4, 50], [30, 30], [30, 30]]
SCALES = [8, 8, 8, 16, 8, 8, 16]
BOXES = [[0, 0, 24, 24], [8, 8, 16, 16], [0, 0, 60, 60], [0, 0, 64, 64]]
CLASSES = [1, 0, 2, -1]
EXPECTED = [
    0,  # (4, 4): inside A, 8 px from its centre (< 1.5 x 8), reach 20; not inside B
    1,  # (12, 12): A and B both fit; B is the smaller
    0,  # (20, 20): outside B; A fits
    -1,  # (16, 16) at stride 16: A's reach 16 is below the level's 4 x 16; on B's corner
    -1,  # (4, 50): inside C, but 26 px from its centre (> 12): centre sampling rejects it
    2,  # (30, 30) at stride 8: C's centre, reach 30 < 64
    -1,  # (30, 30) at stride 16: reach 30 is below 64; the padding box never matches
]


def test_each_location_learns_the_smallest_box_that_passes_centre_sampling_and_its_scale_range():
    matched = assign_boxes(
        _tensor(POINTS), _tensor(SCALES), _tensor([BOXES]), _tensor([CLASSES], "int64")
    )
    assert matched.numpy().tolist() == [EXPECTED]


def test_of_two_boxes_a_few_pixels_apart_in_area_the_smaller_one_is_learnt():
    """Areas 603 and 600 (the larger first): "1e8 - area" in float32 would tie them."""
    boxes = [[[0, 0, 30, 20.1], [0, 0, 20, 30]]]  # 603 and 600 px²
    for order in (boxes, [boxes[0][::-1]]):
        matched = assign_boxes(
            _tensor([[10, 10]]), _tensor([8]), _tensor(order), _tensor([[0, 1]], "int64")
        )
        smaller = 1 if order is boxes else 0
        assert matched.numpy().tolist() == [[smaller]]


def test_an_image_of_padding_only_has_only_background_locations():
    matched = assign_boxes(
        _tensor(POINTS), _tensor(SCALES), _tensor([[[0, 0, 64, 64]]]), _tensor([[-1]], "int64")
    )
    assert (matched.numpy() == -1).all()


@pytest.mark.parametrize("radius, expected", [(1.5, -1), (4.0, 2)])
def test_the_centre_sampling_radius_is_counted_in_strides(radius, expected):
    matched = assign_boxes(
        _tensor([[4, 50]]),
        _tensor([8]),
        _tensor([[[0, 0, 60, 60]]]),
        _tensor([[2]], "int64"),
        radius=radius,
    )
    assert matched.numpy().tolist() == [[0 if expected == 2 else -1]]


def test_locations_are_the_cell_centres_of_each_level_row_by_row_with_the_level_stride():
    locations = Locations.of_levels(16, [(2, 2), (1, 1)])
    np.testing.assert_allclose(locations.points, [[4, 4], [12, 4], [4, 12], [12, 12], [8, 8]])
    np.testing.assert_allclose(locations.scales, [8, 8, 8, 8, 16])
    assert locations.level_counts == [4, 1]
