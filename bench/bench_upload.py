"""A photo upload in the editor (issue 21): time from a 2000-pixel photo to the new picture,
today's code against the code before issue 21's upload work, side by side in one run.

    python bench/bench_upload.py [--repeats 5] [--side 2000]

Times the app's handlers as an upload runs them (``dpg.app.handlers``, no browser and no
Gradio): ``load_photo`` (read the file, refuse groups, find the pose and the person's mask,
crop and encode) then ``picture`` (the picture the page shows: the photo's preview with the
person), for the main photo and for a second photo whose background is then taken. The photo
is the bundled street photo ``street-1001.jpg`` enlarged to ``--side`` pixels tall (JPEG).
"Before" swaps in the resize the code used before (PIL's Lanczos, five times per upload; the
group check's fill colour, now from every 8th pixel, is not swapped back); each repetition
runs both in turn, so a busy machine slows them alike. Medians in ms; the goal is at most 500 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dpg.pose.detector as detector_module  # noqa: E402
import dpg.pose.images as images_module  # noqa: E402
import dpg.pose.person as person_module  # noqa: E402
from dpg.app import handlers as h  # noqa: E402
from dpg.app.photos import PersonFinder  # noqa: E402
from dpg.app.session import Session  # noqa: E402
from dpg.eval.bench import machine  # noqa: E402
from dpg.inference import PersonGenerator  # noqa: E402

EXAMPLES = ROOT / "assets" / "examples"


def pil_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The resize before issue 21's upload work: PIL's Lanczos on the whole photo."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))


@contextlib.contextmanager
def before():
    """The upload as it ran before: PIL resizes (every module that imported ``resize``)."""
    now = images_module.resize
    modules = (images_module, detector_module, person_module)
    for m in modules:
        m.resize = pil_resize
    try:
        yield
    finally:
        for m in modules:
            m.resize = now


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--side", type=int, default=2000, help="the photo's height in pixels")
    args = p.parse_args()
    torch.set_num_threads(1)  # as the app runs each event
    gen = PersonGenerator.from_checkpoint(args.checkpoint, "cpu")
    finder = PersonFinder(workers=1)
    src = Image.open(EXAMPLES / "street-1001.jpg")
    k = args.side / src.height
    photo = src.resize((round(src.width * k), args.side), Image.BICUBIC)
    path = Path(tempfile.mkdtemp(prefix="dpg-bench-upload-")) / "photo.jpg"
    photo.save(path, quality=92)
    print(f"{machine()}; photo {photo.width}x{photo.height} (JPEG {path.stat().st_size // 1024} kB); torch threads 1")

    def upload():
        s, _ = h.load_photo(gen, finder, h.start(gen, Session()), str(path))
        h.picture(gen, finder, s)
        return s

    def take(s):
        s2, _ = h.load_photo(gen, finder, s, str(path), slot="other")
        h.picture(gen, finder, h.take_from_other(gen, s2, ["background"]))

    s = upload()  # warm: mediapipe's graphs are built at the first upload
    times = {("before", "upload"): [], ("now", "upload"): [], ("before", "take"): [], ("now", "take"): []}
    for i in range(args.repeats):
        for variant in ("before", "now") if i % 2 == 0 else ("now", "before"):
            with before() if variant == "before" else contextlib.nullcontext():
                t = time.perf_counter()
                upload()
                times[variant, "upload"].append(time.perf_counter() - t)
                t = time.perf_counter()
                take(s)
                times[variant, "take"].append(time.perf_counter() - t)
    for what, label in (("upload", "upload to picture"), ("take", "second photo's background taken")):
        b, n = (statistics.median(times[v, what]) * 1e3 for v in ("before", "now"))
        print(
            f"FIGURE upload.{what}_ms: {n:.0f} ms median ({label}, {photo.width}x{photo.height} photo; before {b:.0f} ms, x{n / b:.2f}; goal 500)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
