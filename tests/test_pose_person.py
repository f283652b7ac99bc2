"""``dpg.pose.person.PersonCropper`` and ``PersonGenerator.encode_photo`` on top of it: one
person cropped at the model's size; group photos and too few joints refused with the same
messages in the API as in the app."""

from pathlib import Path

import numpy as np
import pytest
import torch
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
    from dpg.config import tiny
    from dpg.inference import PersonGenerator
    from dpg.model import DisentangledPersonModel

    torch.manual_seed(0)
    gen = PersonGenerator(DisentangledPersonModel(tiny()), "cpu")
    a = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    with pytest.raises(UserError, match="shows 2 people"):
        gen.encode_photo(np.concatenate([a, a[:, ::-1]], 1))
    factors, crop, kp = gen.encode_photo(str(ASTRONAUT))
    assert crop.shape == (gen.height, gen.width, 3) and (kp[:, 2] > 0).sum() >= MIN_JOINTS
    assert factors.fg.shape[0] == 1
