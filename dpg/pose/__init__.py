"""Photo -> COCO-18 keypoints (mediapipe's pose model) and the keypoint format converters.

* ``dpg.pose.images``: ``load_image`` (any photo -> uint8 ``[H, W, 3]``), ``crop_person``;
* ``dpg.pose.detector``: ``PoseDetector.detect(photo) -> Detection(keypoints, box, score)``,
  ``box_for``;
* ``dpg.pose.person``: ``PersonCropper.crop(photo, size)``: the one person in a photo, cropped
  (group photos and too few joints refused);
* ``dpg.pose.formats``: OpenPose JSON (COCO-18, BODY_25) and mediapipe's 33 landmarks, both ways;
* ``dpg.pose.cli``: ``dpg keypoints PHOTO... [--json OUT] [--overlay OUT.png]``.

The names below are imported on first use, so ``import dpg.pose`` (done by ``dpg --help``)
loads neither mediapipe nor torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_image": "dpg.pose.images",
    "crop_person": "dpg.pose.images",
    "PoseDetector": "dpg.pose.detector",
    "Detection": "dpg.pose.detector",
    "box_for": "dpg.pose.detector",
    "PersonCropper": "dpg.pose.person",
    "openpose_to_keypoints": "dpg.pose.formats",
    "keypoints_to_openpose": "dpg.pose.formats",
    "read_openpose_json": "dpg.pose.formats",
    "write_openpose_json": "dpg.pose.formats",
    "mediapipe_to_keypoints": "dpg.pose.formats",
    "keypoints_to_mediapipe": "dpg.pose.formats",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dpg.pose' has no attribute {name!r}")
