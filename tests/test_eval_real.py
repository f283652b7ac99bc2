"""``dpg.eval.real`` (the measures of ``bench/bench_real.py``) and the PETA label reader, on
arrays the tests make."""

import numpy as np
import pytest

from dpg.data.peta import attributes_of, read_labels
from dpg.eval import real as R


def test_region_colour_error_is_zero_for_the_photo_and_grows_with_a_colour_change():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (32, 16, 3), dtype=np.uint8)
    mask = np.zeros((32, 16), np.uint8)
    mask[4:28, 4:12] = 255
    rois = np.array([[0, 0, 16, 16], [0, 16, 16, 32], [0, 0, 0, 0]], np.float32)
    vis = np.array([1, 1, 0], np.float32)
    assert R.region_colour_error(photo, photo, mask, rois, vis) == pytest.approx(0, abs=1e-6)
    tinted = photo.copy()
    tinted[..., 0] = np.clip(tinted[..., 0].astype(int) + 60, 0, 255)
    small = R.region_colour_error(photo, np.clip(photo.astype(int) + 5, 0, 255).astype(np.uint8), mask, rois, vis)
    assert R.region_colour_error(photo, tinted, mask, rois, vis) > small > 0
    outside = photo.copy()
    outside[mask == 0] = 0  # pixels outside the person do not count
    assert R.region_colour_error(photo, outside, mask, rois, vis) == pytest.approx(0, abs=1e-6)
    assert np.isnan(R.region_colour_error(photo, photo, np.zeros_like(mask), rois, vis))


def test_background_swap_distances_use_pixels_background_in_both():
    a = np.full((8, 8, 3), 10, np.uint8)
    b = np.full((8, 8, 3), 200, np.uint8)
    ma, mb = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    ma[:, :2] = 255
    mb[:, 6:] = 255
    out = b.copy()
    out[:, :2] = 10  # the person of a stays; the background became b's
    d_a, d_b = R.background_swap(out, a, b, ma, mb)
    assert d_b == 0 and d_a == 190


def test_kid_is_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    same, _ = R.kid(x, y, subsets=20, subset_size=100)
    other, _ = R.kid(x, y + 1.5, subsets=20, subset_size=100)
    assert abs(same) < 0.05 < other


def test_probe_reads_a_linear_attribute_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8))
    y = x[:, 0] + 0.3 * rng.normal(size=400) > 0.8  # imbalanced, linear
    assert R.probe(x[:300], y[:300], x[300:], y[300:]) > 0.85
    noise = rng.normal(size=(400, 8))
    assert abs(R.probe(noise[:300], y[:300], noise[300:], y[300:]) - 0.5) < 0.15
    assert np.isnan(R.probe(x[:10], np.zeros(10, bool), x[10:20], y[10:20]))


def test_peta_labels_match_file_ids(tmp_path):
    (tmp_path / "CUHK").mkdir()
    (tmp_path / "CUHK" / "Label.txt").write_text("0606.png upperBodyGrey lowerBodyBlack\n")
    (tmp_path / "MIT").mkdir()
    (tmp_path / "MIT" / "Label.txt").write_text("00924 upperBodyPurple\n")
    labels = read_labels(tmp_path)
    assert attributes_of(labels, "CUHK", "0606") == {"upperBodyGrey", "lowerBodyBlack"}
    assert attributes_of(labels, "MIT", "00924") == {"upperBodyPurple"}
    assert attributes_of(labels, "MIT", "924") == {"upperBodyPurple"}
    assert attributes_of(labels, "MIT", "5") is None
