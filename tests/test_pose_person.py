"""``dpg.pose.person.PersonCropper`` and ``PersonGenerator.encode_photo`` on top of it: one
person cropped at the model's size; group photos and too few joints refused with the same
messages in the API as in the app."""

from pathlib import Path

import numpy as np
import pytest
from conftest import seeded_tiny_model
from PIL import Image

from dpg.errors import UserError
from dpg.pose.detector import Detection
from dpg.pose.person import MIN_JOINTS, PersonCropper

ASTRONAUT = Path(__file__).resolve().parents[1] / "assets" / "examples" / "astronaut.jpg"


class FakeDetector:
    """A detector that 'finds' ``joints`` visible joints down the middle of the photo."""

    def __init__(self, joints: int):
        self.joints = joints

    def detect(self, photo, aspect=0.5, name=None):
        h, w = photo.shape[:2]
        kp = np.zeros((18, 3), np.float32)
        for j in range(self.joints):
            kp[j] = (w / 2, h * (0.1 + 0.8 * j / 18), 1)
        bw = int(h * aspect)
        return Detection(kp, ((w - bw) // 2, 0, (w + bw) // 2, h), 1.0, np.zeros((33, 3), np.float32))


def test_crop_is_at_the_model_size_with_keypoints_inside_it():
    photo = np.full((300, 200, 3), 120, np.uint8)
    crop, kp = PersonCropper(FakeDetector(14)).crop(photo, (128, 64))
    assert crop.shape == (128, 64, 3) and crop.dtype == np.uint8 and crop.flags.writeable
    seen = kp[kp[:, 2] > 0]
    assert len(seen) == 14 and (seen[:, 0] >= 0).all() and (seen[:, 0] < 64).all() and (seen[:, 1] < 128).all()


def test_too_few_joints_is_refused_naming_the_photo():
    photo = np.full((300, 200, 3), 120, np.uint8)
    with pytest.raises(UserError, match=f"only {MIN_JOINTS - 1} body joints of the person in me.jpg"):
        PersonCropper(FakeDetector(MIN_JOINTS - 1)).crop(photo, (128, 64), "me.jpg")


def test_encode_photo_refuses_a_group_photo_like_the_app():
    pytest.importorskip("mediapipe")
    from dpg.inference import PersonGenerator

    gen = PersonGenerator(seeded_tiny_model(), "cpu")
    a = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    with pytest.raises(UserError, match="shows 2 people"):
        gen.encode_photo(np.concatenate([a, a[:, ::-1]], 1))
    factors, crop, kp = gen.encode_photo(str(ASTRONAUT))
    assert crop.shape == (gen.height, gen.width, 3) and (kp[:, 2] > 0).sum() >= MIN_JOINTS
    assert factors.fg.shape[0] == 1


# ----------------------------------------------------------------------------------------
# Real pedestrians (../shared/data, read in place): group photos and grayscale


def _real_crops(shared_data, n):
    import os

    folder = os.path.join(shared_data, "market", "bounding_box_train")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))[:n]
    return [np.asarray(Image.open(os.path.join(folder, f)).convert("RGB")) for f in names]


def test_pedestrians_side_by_side_are_refused_everywhere(shared_data, tmp_path, capsys):
    # faces of pedestrians are too small to count; the second look (the first person painted
    # over) finds the others: 12 of 12 such composites refused, where 4 of 6 were accepted
    pytest.importorskip("mediapipe")
    from dpg.cli import main as dpg_main

    crops = _real_crops(shared_data, 8)
    cropper = PersonCropper()
    for k, group in enumerate([crops[0:2], crops[2:5], crops[4:8]]):
        photo = np.concatenate(group, axis=1)
        with pytest.raises(UserError, match="people"):
            cropper.crop(photo, (128, 64))
        path = tmp_path / f"group{k}.png"
        Image.fromarray(photo).save(path)
        assert dpg_main(["keypoints", str(path)]) == 1
        assert "people" in capsys.readouterr().err
    assert cropper.crop(crops[1], (128, 64))[0].shape == (128, 64, 3)  # each one alone is found


def test_grayscale_pedestrians_are_found(shared_data):
    # the contrast-stretched second pass finds gray crops the colour pass misses (7 of 20 before)
    pytest.importorskip("mediapipe")
    cropper = PersonCropper()
    found = 0
    for crop in _real_crops(shared_data, 20):
        gray = np.repeat(crop.mean(axis=2, keepdims=True).round().astype(np.uint8), 3, axis=2)
        try:
            cropper.crop(gray, (128, 64))
            found += 1
        except UserError:
            pass
    assert found >= 15  # 17 measured
