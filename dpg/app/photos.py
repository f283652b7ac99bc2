"""An uploaded photo -> the one person in it, cropped and encoded; the bundled example photos.

``PersonFinder.find`` reads any file a visitor may upload (``dpg.pose.images.load_image``:
grayscale, RGBA, CMYK, 16-bit, EXIF-rotated...), names it as the visitor knows it (not by
its temporary path), crops the one person in it at the model's size and encodes them. Every
refusal is a ``UserError`` whose message says what to do; the app shows it in the page.

The checks themselves (several people, no person, too few joints) are
``dpg.pose.person.PersonCropper``'s, shared with ``PersonGenerator.encode_photo``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpg.errors import UserError
from dpg.pose.images import ImageSource, load_image
from dpg.pose.person import PersonCropper

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"


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

    It holds ``workers`` croppers (default: ``DPG_PHOTO_WORKERS``, else one per core, at most
    ``MAX_WORKERS``), each with
    its own mediapipe graphs made on its first upload, and lends one to each upload: the
    graphs are not thread-safe, and one shared graph under a lock made every upload wait for
    the others (8 visitors: median 949 ms against 239 ms alone). The app lets as many photo
    events run at once as there are croppers."""

    MAX_WORKERS = 4

    def __init__(self, detector=None, workers: int | None = None):
        default = int(os.environ.get("DPG_PHOTO_WORKERS", "0")) or min(self.MAX_WORKERS, os.cpu_count() or 1)
        n = workers or (1 if detector is not None else default)
        self.workers = max(1, int(n))
        self._idle: queue.Queue = queue.Queue()
        for _ in range(self.workers):
            self._idle.put(PersonCropper(detector))

    @contextlib.contextmanager
    def _lend(self):
        cropper = self._idle.get()  # waits while every cropper is busy
        try:
            yield cropper
        finally:
            self._idle.put(cropper)

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
        with self._lend() as cropper:
            crop, kp = cropper.crop(photo, (gen.height, gen.width), name)
        return FoundPerson(name, crop, kp, gen.encode(crop[None], kp[None]), photo.shape[:2])


def example_photos() -> list[str]:
    """The bundled example photos (``assets/examples``): the full-body street photos first
    (what a newcomer clicks first, and what the model edits best), then the portraits."""
    if not EXAMPLES.is_dir():
        return []
    photos = [p for p in EXAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return [str(p) for p in sorted(photos, key=lambda p: (not p.name.startswith("street-"), p.name))]
