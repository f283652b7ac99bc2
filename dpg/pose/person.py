"""The one person in a photo: group photos refused, keypoints found, the person cropped.

Used by ``PersonGenerator.encode_photo`` (and so by every ``dpg`` command that takes a photo)
and by the app, so both refuse the same photos with the same messages.

Several people: mediapipe's pose model returns one person per photo, whichever it prefers,
so a group photo would be edited silently wrong. Faces are counted first with mediapipe's
full-range face detector (its model ships in the wheel, like the pose model): two faces of
comparable size mean two people, and the photo is refused with a request to crop it. People
seen from behind show no face and pass this check.
"""

from __future__ import annotations

import threading

import numpy as np

from dpg.errors import UserError
from dpg.pose.images import crop_person

# A second face at least this fraction of the largest face's width is a second person
# (smaller ones are passers-by far behind, or posters).
SECOND_FACE = 0.4
# Fewer visible joints than this in the crop cannot place the 7 body regions sensibly.
MIN_JOINTS = 4


class PersonCropper:
    """Photo ``[H, W, 3]`` uint8 -> the person cropped at a model's size, with keypoints.

    The mediapipe graphs (pose, faces) are created on first use and reused under a lock: the
    app calls from a thread pool and the graphs are not thread-safe. ``detector`` replaces
    the pose detector (anything with ``PoseDetector.detect``'s signature).
    """

    def __init__(self, detector=None):
        self._detector = detector
        self._faces = None
        self._lock = threading.Lock()

    @property
    def detector(self):
        with self._lock:  # two first uploads at once build one detector, not two
            if self._detector is None:
                from dpg.pose.detector import PoseDetector

                self._detector = PoseDetector()
        return self._detector

    def count_people(self, photo: np.ndarray) -> int:
        """People whose faces are visible: faces at least ``SECOND_FACE`` of the largest."""
        try:
            from mediapipe.python.solutions import face_detection
        except ImportError:  # without mediapipe the pose detector reports the problem itself
            return 1
        with self._lock:
            if self._faces is None:
                # model_selection=1: the full-range model, for people up to ~5 m away.
                self._faces = face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
            result = self._faces.process(np.ascontiguousarray(photo))
        widths = [d.location_data.relative_bounding_box.width for d in (result.detections or [])]
        if not widths:
            return 1
        return sum(w >= SECOND_FACE * max(widths) for w in widths)

    def crop(self, photo: np.ndarray, size: tuple[int, int], name: str = "the photo") -> tuple[np.ndarray, np.ndarray]:
        """-> ``(crop uint8 [h, w, 3], keypoints float32 [18, 3] in the crop)`` for ``size``
        ``(h, w)``. Raises ``UserError`` (naming the photo ``name``) for several people, no
        person, or too few joints to place the body regions."""
        people = self.count_people(photo)
        if people > 1:
            raise UserError(
                f"{name} shows {people} people; dpg edits one person at a time. Crop the photo "
                "around the person you want and try again"
            )
        det = self.detector.detect(photo, aspect=size[1] / size[0], name=name)
        crop, kp = crop_person(photo, det.keypoints, det.box, size)
        seen = int((kp[:, 2] > 0).sum())
        if seen < MIN_JOINTS:
            raise UserError(
                f"only {seen} body joints of the person in {name} could be found; use a photo "
                "that shows at least the head, shoulders and arms"
            )
        return np.array(crop), kp  # writable: torch.from_numpy warns on read-only arrays
