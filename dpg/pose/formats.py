"""Keypoint formats at the edge: OpenPose JSON (COCO-18, BODY_25) and mediapipe's 33 landmarks.

Inside dpg keypoints are float32 ``[..., 18, 3]`` rows ``(x, y, v)`` in the order of
``dpg.keypoints.JOINTS`` (see ``dpg/__init__.py``). The converters here translate from and to
the formats other tools write, matching joints **by name**, so the one list in
``dpg.keypoints`` decides where each joint goes:

* OpenPose JSON (``--write_json``): ``{"people": [{"pose_keypoints_2d": [x, y, c, ...]}]}``
  with 18 joints (the COCO model, the one the Market-1501 and DeepFashion annotations were
  made with) or 25 (BODY_25: COCO-18 plus a mid-hip and six foot points). A missing joint
  is ``(0, 0, 0)``; ``c`` is a confidence. Coordinates are pixels, as ours.
* mediapipe pose: 33 landmarks ``(x, y, visibility)`` (``mediapipe.solutions.pose``). It has
  no neck; ours is the midpoint of the shoulders, present when both shoulders are.

Going back, joints that dpg does not have (BODY_25's feet, mediapipe's hands and face
details) are written as missing, and BODY_25's mid-hip is the midpoint of the hips.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from dpg.errors import UserError
from dpg.keypoints import JOINTS

# OpenPose's joint lists, spelled as dpg spells joints ("RShoulder" -> "right_shoulder").
OPENPOSE_COCO18 = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
)
OPENPOSE_BODY25 = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "mid_hip",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
    "left_big_toe",
    "left_small_toe",
    "left_heel",
    "right_big_toe",
    "right_small_toe",
    "right_heel",
)
OPENPOSE_MODELS = {"COCO": OPENPOSE_COCO18, "BODY_25": OPENPOSE_BODY25}

# mediapipe's PoseLandmark enum, lower-cased, in index order.
MEDIAPIPE_LANDMARKS = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)

# OpenPose draws joints with c above 0.05 (its --render_threshold); so do we count them.
OPENPOSE_THRESHOLD = 0.05
# mediapipe's own drawing utilities skip landmarks with visibility below 0.5.
MEDIAPIPE_THRESHOLD = 0.5

_NECK, _RSHO, _LSHO = JOINTS.index("neck"), JOINTS.index("right_shoulder"), JOINTS.index("left_shoulder")


def _gather(values: np.ndarray, src: Sequence[str], dst: Sequence[str]) -> np.ndarray:
    """Reorder rows ``[..., len(src), C]`` into ``[..., len(dst), C]`` by joint name.

    A name of ``dst`` that ``src`` lacks becomes an all-zero row (missing).
    """
    if values.shape[-2] != len(src):
        raise ValueError(f"expected {len(src)} joints on axis -2, got shape {values.shape}")
    out = np.zeros(values.shape[:-2] + (len(dst), values.shape[-1]), dtype=np.float32)
    for j, name in enumerate(dst):
        if name in src:
            out[..., j, :] = values[..., src.index(name), :]
    return out


def _check_dpg(keypoints) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.shape[-2:] != (len(JOINTS), 3):
        raise ValueError(f"keypoints must have shape [..., {len(JOINTS)}, 3], got {kp.shape}")
    return kp


def _threshold(rows: np.ndarray, threshold: float) -> np.ndarray:
    """Rows ``[..., K, 3]`` ``(x, y, score)`` -> ``(x, y, v)``, zeroing rows at or below it."""
    present = rows[..., 2] > threshold
    out = np.where(present[..., None], rows, 0).astype(np.float32)
    out[..., 2] = present
    return out


# ----------------------------------------------------------------------------------------
# OpenPose JSON


def openpose_to_keypoints(data: dict, threshold: float = OPENPOSE_THRESHOLD) -> np.ndarray:
    """OpenPose ``--write_json`` content (a parsed dict) -> float32 ``[P, 18, 3]``, one per person.

    Accepts COCO-18 and BODY_25 output (told apart by the number of values) and both the
    current ``pose_keypoints_2d`` key and the pre-1.2 ``pose_keypoints``. A joint is present
    when its confidence is above ``threshold``. No people: an array ``[0, 18, 3]``.

    Raises:
        UserError: not OpenPose JSON, or another OpenPose model (MPI's 15 joints).
    """
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise UserError('not OpenPose JSON: expected an object with a "people" list')
    out = []
    for i, person in enumerate(people):
        flat = person.get("pose_keypoints_2d", person.get("pose_keypoints")) if isinstance(person, dict) else None
        if not isinstance(flat, list):
            raise UserError(f'OpenPose JSON: person {i} has no "pose_keypoints_2d" list')
        try:
            rows = np.asarray(flat, dtype=np.float32).reshape(-1, 3)
        except (TypeError, ValueError):
            raise UserError(f"OpenPose JSON: person {i}'s keypoints are not triples of numbers") from None
        model = {18: "COCO", 25: "BODY_25"}.get(len(rows))
        if model is None or len(flat) % 3:
            raise UserError(
                f"OpenPose JSON: person {i} has {len(flat)} values; dpg reads the COCO (18 joints, 54 "
                "values) and BODY_25 (25 joints, 75 values) models"
            )
        out.append(_gather(_threshold(rows, threshold), OPENPOSE_MODELS[model], JOINTS))
    return np.stack(out) if out else np.zeros((0, len(JOINTS), 3), np.float32)


def keypoints_to_openpose(keypoints, model: str = "COCO", scores=None) -> dict:
    """dpg keypoints ``[18, 3]`` or ``[P, 18, 3]`` -> an OpenPose JSON dict (version 1.3 layout).

    ``model`` is ``"COCO"`` (18 joints) or ``"BODY_25"``; BODY_25's mid-hip is the midpoint
    of the hips when both are present, its feet are missing. ``scores`` (``[P, 18]``, optional)
    become the confidences; without them a present joint gets 1. Missing joints are (0, 0, 0).
    """
    if model not in OPENPOSE_MODELS:
        raise ValueError(f"unknown OpenPose model {model!r}; use one of {sorted(OPENPOSE_MODELS)}")
    kp = _check_dpg(keypoints).reshape(-1, len(JOINTS), 3).copy()
    if scores is not None:
        kp[..., 2] = np.where(kp[..., 2] > 0, np.asarray(scores, np.float32).reshape(kp.shape[:2]), 0)
    names = OPENPOSE_MODELS[model]
    rows = _gather(kp, JOINTS, names)  # [P, K, 3]
    if "mid_hip" in names:
        hips = kp[:, [JOINTS.index("right_hip"), JOINTS.index("left_hip")]]  # [P, 2, 3]
        both = (hips[:, :, 2] > 0).all(axis=1)
        mid = np.concatenate([hips[:, :, :2].mean(axis=1), hips[:, :, 2].min(axis=1, keepdims=True)], axis=1)
        rows[:, names.index("mid_hip")] = np.where(both[:, None], mid, 0)
    people = [
        {
            "person_id": [-1],
            "pose_keypoints_2d": [round(float(v), 3) for v in person.reshape(-1)],
            "face_keypoints_2d": [],
            "hand_left_keypoints_2d": [],
            "hand_right_keypoints_2d": [],
            "pose_keypoints_3d": [],
            "face_keypoints_3d": [],
            "hand_left_keypoints_3d": [],
            "hand_right_keypoints_3d": [],
        }
        for person in rows
    ]
    return {"version": 1.3, "people": people}


def read_openpose_json(path: str | os.PathLike, threshold: float = OPENPOSE_THRESHOLD) -> np.ndarray:
    """Read one OpenPose ``*_keypoints.json`` file -> float32 ``[P, 18, 3]``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{os.fspath(path)}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{os.fspath(path)}: not a JSON file ({err})") from None
    try:
        return openpose_to_keypoints(data, threshold)
    except UserError as err:
        raise UserError(f"{os.fspath(path)}: {err}") from None


def write_openpose_json(path: str | os.PathLike, keypoints, model: str = "COCO", scores=None) -> None:
    """Write dpg keypoints ``[18, 3]`` or ``[P, 18, 3]`` as an OpenPose JSON file."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(keypoints_to_openpose(keypoints, model, scores), f)


# ----------------------------------------------------------------------------------------
# mediapipe's 33 landmarks


def mediapipe_to_keypoints(
    landmarks,
    threshold: float = MEDIAPIPE_THRESHOLD,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """mediapipe landmarks ``[..., 33, >=3]`` ``(x, y, visibility, ...)`` in pixels -> ``[..., 18, 3]``.

    A joint is present when its visibility is at least ``threshold`` and, given the image's
    ``(height, width)``, when it lies on the image (mediapipe also predicts joints beyond the
    frame, e.g. the hips of a head-and-shoulders portrait). The neck is the midpoint of the
    shoulders, present when both are. Convert mediapipe's normalised coordinates first:
    ``x_px = x * width - 0.5`` (its 0..1 spans the pixels' outer edges; ours has pixel centres
    at integers).
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.shape[-2] != len(MEDIAPIPE_LANDMARKS) or lm.shape[-1] < 3:
        raise ValueError(f"landmarks must have shape [..., 33, >=3], got {lm.shape}")
    lm = lm[..., :3]
    present = lm[..., 2] >= threshold
    if image_size is not None:
        height, width = image_size
        x, y = lm[..., 0], lm[..., 1]
        present &= (x > -0.5) & (x < width - 0.5) & (y > -0.5) & (y < height - 0.5)
    rows = np.concatenate([lm[..., :2], present[..., None].astype(np.float32)], axis=-1)
    kp = _gather(rows, MEDIAPIPE_LANDMARKS, JOINTS)
    # The neck: mid-shoulders, as OpenPose's neck sits between the shoulders.
    both = (kp[..., _RSHO, 2] > 0) & (kp[..., _LSHO, 2] > 0)
    kp[..., _NECK, :2] = (kp[..., _RSHO, :2] + kp[..., _LSHO, :2]) / 2
    kp[..., _NECK, 2] = both
    return np.where(kp[..., 2:] > 0, kp, 0).astype(np.float32)


def keypoints_to_mediapipe(keypoints) -> np.ndarray:
    """dpg keypoints ``[..., 18, 3]`` -> mediapipe-ordered landmarks ``[..., 33, 3]`` in pixels.

    Columns ``(x, y, visibility)`` with visibility 1 for present joints; mediapipe's landmarks
    that dpg lacks (inner/outer eyes, mouth, hands, heels, toes) are missing, ``(0, 0, 0)``.
    The neck has no mediapipe landmark and is dropped.
    """
    return _gather(_check_dpg(keypoints), JOINTS, MEDIAPIPE_LANDMARKS)
