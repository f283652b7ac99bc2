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
from dataclasses import dataclass

import numpy as np

from dpg.errors import UserError
from dpg.pose.detector import PoseDetector
from dpg.pose.formats import MEDIAPIPE_THRESHOLD, mediapipe_to_keypoints
from dpg.pose.images import crop_person, cut_box, fit_within, resize

# The face counter sees the photo shrunk to this long side at most (its full-range model
# works at 192x192; OpenCV inside mediapipe asserts on sides of 32,767 or more).
FACE_SIDE = 1024
# A second face at least this fraction of the largest face's width is a second person
# (smaller ones are passers-by far behind, or posters).
SECOND_FACE = 0.4
# Fewer visible joints than this in the crop cannot place the 7 body regions sensibly.
MIN_JOINTS = 4
# The second look for another person (pedestrians' faces are too small to count): with the
# found person's joint box (grown by ``BLANK_MARGIN`` of its larger side) painted over, a
# person found again with at least ``SECOND_JOINTS`` joints, at least ``SECOND_HEIGHT`` of
# the first person's joint height, centred outside the painted box, is a second person.
BLANK_MARGIN = 0.15
SECOND_JOINTS = 8
SECOND_HEIGHT = 0.7  # street photos show passers-by behind the subject at about half its height


@dataclass(frozen=True)
class PersonCrop:
    """The person of a photo at a model's size.

    Attributes:
        crop: uint8 ``[h, w, 3]``.
        keypoints: float32 ``[18, 3]`` in the crop's pixels.
        box: ``(x0, y0, x1, y1)`` of the crop in the photo (may extend beyond it).
        mask: uint8 ``[h, w]`` person segmentation (255 = person), or None.
        box_mask: uint8 ``[y1-y0, x1-x0]`` the same segmentation over the box at the photo's
            own pixels (0 beyond the photo), or None: ``dpg.photo`` keeps the person's pixels
            by it.
    """

    crop: np.ndarray
    keypoints: np.ndarray
    box: tuple[int, int, int, int]
    mask: np.ndarray | None = None
    box_mask: np.ndarray | None = None


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
                # segmenting costs little beside the pose model, and photo edits keep the
                # person's own pixels by the mask
                self._detector = PoseDetector(segmentation=True)
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
            result = self._faces.process(np.ascontiguousarray(fit_within(photo, FACE_SIDE)))
        widths = [d.location_data.relative_bounding_box.width for d in (result.detections or [])]
        if not widths:
            return 1
        return sum(w >= SECOND_FACE * max(widths) for w in widths)

    def refuse_groups(self, photo: np.ndarray, name: str = "the photo", keypoints: np.ndarray | None = None) -> None:
        """``UserError`` for a photo of several people: faces counted (without ``keypoints``),
        or a second person found once the one at ``keypoints`` is painted over."""
        people = self.count_people(photo) if keypoints is None else 2 * self.second_person(photo, keypoints)
        if people > 1:
            many = f"{people}" if keypoints is None else "2 or more"
            raise UserError(
                f"{name} shows {many} people; dpg edits one person at a time. Crop the photo around the person you want and try again"
            )

    def second_person(self, photo: np.ndarray, keypoints: np.ndarray) -> bool:
        """Whether the pose model finds another person of comparable size once the one at
        ``keypoints`` ``[18, 3]`` is painted over (constants above). A detector without
        ``landmarks`` (a stand-in) skips this look."""

        find = getattr(self.detector, "landmarks", None)
        seen = keypoints[:, 2] > 0
        if find is None or seen.sum() < 2:
            return False
        h, w = photo.shape[:2]
        lo, hi = keypoints[seen, :2].min(0), keypoints[seen, :2].max(0)
        margin = BLANK_MARGIN * float((hi - lo).max())
        x0, y0 = (int(max(v, 0)) for v in lo - margin)
        x1, y1 = int(min(hi[0] + margin + 1, w)), int(min(hi[1] + margin + 1, h))
        if (x1 - x0) * (y1 - y0) >= 0.8 * h * w:  # the person fills the photo: no room for another
            return False
        blanked = photo.copy()
        # the fill is the photo's mean colour, from every 8th pixel in each direction (the
        # whole of a 2000-pixel photo took 50 ms, for a colour the detector only needs to ignore)
        blanked[y0:y1, x0:x1] = photo[::8, ::8].reshape(-1, 3).mean(0).astype(np.uint8)
        lm = find(blanked, fallback=False)
        if lm is None:
            return False
        other = mediapipe_to_keypoints(lm, MEDIAPIPE_THRESHOLD, image_size=(h, w))
        on = other[:, 2] > 0
        if on.sum() < SECOND_JOINTS:
            return False
        cx, cy = np.median(other[on, :2], axis=0)
        outside = not (x0 <= cx < x1 and y0 <= cy < y1)
        tall = np.ptp(other[on, 1]) >= SECOND_HEIGHT * max(float(hi[1] - lo[1]), 1.0)
        return bool(outside and tall)

    def crop(self, photo: np.ndarray, size: tuple[int, int], name: str = "the photo") -> tuple[np.ndarray, np.ndarray]:
        """-> ``(crop uint8 [h, w, 3], keypoints float32 [18, 3] in the crop)`` for ``size``
        ``(h, w)``. Raises ``UserError`` (naming the photo ``name``) for several people, no
        person, or too few joints to place the body regions."""
        found = self.find(photo, size, name)
        return found.crop, found.keypoints

    def find(self, photo: np.ndarray, size: tuple[int, int], name: str = "the photo") -> "PersonCrop":
        """``crop`` with everything it learnt: the box in the photo and, where the detector
        segments (``PoseDetector(segmentation=True)``), the person mask cut like the crop."""
        self.refuse_groups(photo, name)
        det = self.detector.detect(photo, aspect=size[1] / size[0], name=name)
        self.refuse_groups(photo, name, det.keypoints)
        crop, kp = crop_person(photo, det.keypoints, det.box, size)
        seen = int((kp[:, 2] > 0).sum())
        if seen < MIN_JOINTS:
            raise UserError(
                f"only {seen} body joints of the person in {name} could be found; use a photo "
                "that shows at least the head, shoulders and arms"
            )
        mask = box_mask = None
        if det.mask is not None:
            # the mask cut exactly as the photo: uint8 [H, W] -> the box -> 3 channels -> [h, w]
            box_mask = cut_box(np.rint(det.mask * 255).astype(np.uint8), det.box, zeros=True)  # [y1-y0, x1-x0]
            mask = np.array(resize(np.repeat(box_mask[:, :, None], 3, axis=2), *size)[:, :, 0])
        # writable copies: torch.from_numpy warns on read-only arrays
        return PersonCrop(np.array(crop), kp, det.box, mask, box_mask)
