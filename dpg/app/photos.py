"""An uploaded photo -> the one person in it, cropped and encoded; the bundled example photos.

``PersonFinder.find`` reads any file a visitor may upload (``dpg.pose.images.load_image``:
grayscale, RGBA, CMYK, 16-bit, EXIF-rotated...), refuses photos with several people, finds
the person's keypoints (``dpg.pose.PoseDetector``, mediapipe), crops the person at the
model's size and aspect ratio and encodes them. Every refusal is a ``UserError`` whose
message says what to do; the app shows it in the page.

Several people: mediapipe's pose model returns one person per photo, whichever it prefers,
so a group photo would be edited silently wrong. Faces are counted first with mediapipe's
full-range face detector (its model ships in the wheel, like the pose model): two faces of
comparable size mean two people, and the photo is refused with a request to crop it. People
seen from behind show no face and pass this check.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpg.errors import UserError
from dpg.pose.images import ImageSource, crop_person, load_image

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
# A second face at least this fraction of the largest face's width is a second person
# (smaller ones are passers-by far behind, or posters).
SECOND_FACE = 0.4
# Fewer visible joints than this in the crop cannot place the 7 body regions sensibly.
MIN_JOINTS = 4


@dataclass(frozen=True)
class FoundPerson:
    """The person found in a photo: ``crop`` uint8 ``[H, W, 3]`` at the model's size,
    ``keypoints`` float32 ``[18, 3]`` in the crop, the encoded ``factors`` (batch of one),
    the photo's display ``name`` and its size ``(height, width)``."""

    name: str
    crop: np.ndarray
    keypoints: np.ndarray
    factors: object
    photo_size: tuple[int, int]


def display_name(source) -> str:
    """A short, Markdown-safe name for a photo (its file name, or "the photo")."""
    if isinstance(source, (str, os.PathLike)):
        name = re.sub(r"[^\w.\- ]", "_", Path(source).name)[:60]
        return name or "the photo"
    return "the photo"


class PersonFinder:
    """Finds and encodes the person in a photo; one instance per app, like the model.

    The mediapipe graphs are created on first use and reused under a lock (Gradio runs
    handlers in a thread pool and the graphs are not thread-safe).
    """

    def __init__(self, detector=None):
        if detector is None:
            from dpg.pose import PoseDetector

            detector = PoseDetector()
        self.detector = detector
        self._faces = None
        self._lock = threading.Lock()

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

    def find(self, gen, source: ImageSource) -> FoundPerson:
        """Any photo -> ``FoundPerson`` at ``gen``'s size. Raises ``UserError`` for a file that
        is not an image, a photo too small or too large, with no person or several."""
        if source is None:
            raise UserError("no photo was uploaded")
        name = display_name(source)
        try:
            photo = load_image(source)
        except UserError as err:  # name the file as the visitor knows it, not by its temp path
            raise UserError(str(err).replace(os.fspath(source), name) if isinstance(source, (str, os.PathLike)) else str(err)) from None
        people = self.count_people(photo)
        if people > 1:
            raise UserError(
                f"{name} shows {people} people; dpg edits one person at a time. Crop the photo "
                "around the person you want and upload it again"
            )
        det = self.detector.detect(photo, aspect=gen.width / gen.height, name=name)
        crop, kp = crop_person(photo, det.keypoints, det.box, (gen.height, gen.width))
        seen = int((kp[:, 2] > 0).sum())
        if seen < MIN_JOINTS:
            raise UserError(
                f"only {seen} body joints of the person in {name} could be found; use a photo "
                "that shows at least the head, shoulders and arms"
            )
        crop = np.array(crop)  # writable: torch.from_numpy warns on read-only arrays
        fac = gen.encode(crop[None], kp[None])
        return FoundPerson(name, crop, kp, fac, photo.shape[:2])


def example_photos() -> list[str]:
    """The bundled example photos (``assets/examples``), sorted by name."""
    if not EXAMPLES.is_dir():
        return []
    return sorted(str(p) for p in EXAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
