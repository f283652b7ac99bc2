"""Edits at the photo's own resolution (``dpg.photo``): time on a 4000x3000 photo, and the
pictures for the README.

    python bench/bench_photo.py [--repeats 5] [--pictures]

The 4000x3000 photos are two bundled street photos (``assets/examples``) enlarged to 3000
pixels tall and widened with their own mirror image. Times are medians over ``--repeats``
runs after one warm-up, of ``PersonGenerator.on_photo`` (the model's decoder, the
compositing at full resolution) with the person already found; the first edit of a photo also
cuts its box and grows the hole its person leaves (both kept with the photo) and is timed on
its own. Finding the person in the photo (the upload) is timed apart. ``--pictures`` writes
``docs/photo-edits.png`` (before and after) and ``docs/photo-fill.png`` (the fill methods
compared: the photo's box; the model's decoded background, which ``dpg.photo`` uses; OpenCV's
Telea and Navier-Stokes inpainting; OpenCV-contrib's shift-map inpainting).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dpg.eval.bench import machine  # noqa: E402
from dpg.inference import PersonGenerator  # noqa: E402
from dpg.model import Factors  # noqa: E402
from dpg.photo import PhotoPerson, hole_weight  # noqa: E402
from dpg.pose.images import load_image, pad_softly  # noqa: E402

EXAMPLES = ROOT / "assets" / "examples"
DOCS = ROOT / "docs"


def big_photo(name: str, height: int = 3000, width: int = 4000) -> np.ndarray:
    """A bundled street photo enlarged to ``height`` and widened to ``width`` (mirrored)."""
    photo = load_image(EXAMPLES / name)
    w = round(photo.shape[1] * height / photo.shape[0])
    big = cv2.resize(photo, (w, height), interpolation=cv2.INTER_CUBIC)
    left = (width - w) // 2
    return pad_softly(big, ((0, 0), (left, width - w - left), (0, 0)))


def timed(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, out


def fresh(p: PhotoPerson) -> PhotoPerson:
    """The same person without the cached fill."""
    return PhotoPerson(p.photo, p.crop, p.keypoints, p.box, p.mask)


def speed(gen: PersonGenerator, repeats: int) -> None:
    a_photo, b_photo = big_photo("street-1001.jpg"), big_photo("street-1016.jpg")
    t = time.perf_counter()
    a = gen.find_person(a_photo)
    upload = (time.perf_counter() - t) * 1000
    b = gen.find_person(b_photo)
    fa, fb = (gen.encode(p.crop[None], p.keypoints[None]) for p in (a, b))
    print(
        f"photo {a_photo.shape[1]}x{a_photo.shape[0]}, person's box {a.box_size[1]}x{a.box_size[0]}; "
        f"{machine()}, torch threads {torch.get_num_threads()}"
    )
    print(f"finding the person (the upload, first call: graphs built): {upload:.0f} ms")
    rows = []
    model_ms, _ = timed(lambda: gen.compose(gen.swap(fa, fb, ("bg",))), repeats)
    rows.append(("model output only (128x64, the paper's view)", model_ms, "128x64"))
    ms, out = timed(lambda: gen.on_photo(a, gen.swap(fa, fb, ("bg",)), {"bg"}), repeats)
    rows.append(("background from the model (person's pixels kept)", ms, f"{out.shape[1]}x{out.shape[0]}"))
    t = time.perf_counter()
    bf = fresh(b)
    gen.on_photo(a, gen.swap(fa, fb, ("bg",)), {"bg"}, background=bf)
    rows.append(("background of photo B, first (B's box cut, its hole grown)", (time.perf_counter() - t) * 1000, ""))
    ms, out = timed(lambda: gen.on_photo(a, gen.swap(fa, fb, ("bg",)), {"bg"}, background=bf), repeats)
    rows.append(("background of photo B, again", ms, f"{out.shape[1]}x{out.shape[0]}"))
    t = time.perf_counter()
    af = fresh(a)
    gen.on_photo(af, gen.swap(fa, fb, ("fg",)), {"fg"})
    rows.append(("clothing of B, first (A's box cut, its hole grown)", (time.perf_counter() - t) * 1000, ""))
    ms, out = timed(lambda: gen.on_photo(af, gen.swap(fa, fb, ("fg",)), {"fg"}), repeats)
    rows.append(("clothing of B, again", ms, f"{out.shape[1]}x{out.shape[0]}"))
    ms, out = timed(lambda: gen.on_photo(af, gen.swap(fa, fb, ("pose",)), {"pose"}), repeats)
    rows.append(("pose of B", ms, f"{out.shape[1]}x{out.shape[0]}"))
    print(f"{'edit':52s} {'ms':>7s}  result")
    for name, ms, size in rows:
        print(f"{name:52s} {ms:7.0f}  {size}")
    worst = max(ms for name, ms, _ in rows[1:])
    print(f"slowest edit: {worst:.0f} ms ({'under' if worst < 1000 else 'OVER'} the 1 s bar); model output alone {model_ms:.1f} ms")


def fit(image: np.ndarray, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((round(image.shape[1] * height / image.shape[0]), height), Image.LANCZOS))


def row(images, height: int = 300, gap: int = 6) -> np.ndarray:
    parts = []
    for im in images:
        parts += [fit(im, height), np.full((height, gap, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], 1)


def grid(rows) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, 0)[:-6]


def pictures(gen: PersonGenerator) -> None:
    names = ("1001", "1016", "1020", "1004")
    people = {n: gen.find_person(EXAMPLES / f"street-{n}.jpg") for n in names}
    fac = {n: gen.encode(p.crop[None], p.keypoints[None]) for n, p in people.items()}
    rows = []
    for a, b, c in (("1001", "1016", "1020"), ("1004", "1020", "1016")):
        pa, fa, fb = people[a], fac[a], fac[b]
        sampled = gen.sample(fg=[0], bg=[7], pose=[0])
        rows.append(
            row(
                [
                    pa.photo,
                    people[b].photo,
                    gen.on_photo(pa, gen.swap(fa, fb, ("bg",)), {"bg"}, background=people[b]),
                    gen.on_photo(pa, Factors(fa.fg, sampled.bg, fa.keypoints), {"bg"}),
                    gen.on_photo(pa, gen.swap(fa, fb, ("fg",)), {"fg"}),
                    gen.on_photo(pa, gen.swap_parts(fa, fb, ("upper_body",)), {"fg"}),
                    gen.on_photo(pa, gen.swap(fa, fac[c], ("pose",)), {"pose"}),
                ]
            )
        )
    Image.fromarray(grid(rows)).save(DOCS / "photo-edits.png")
    # the fill methods, on each photo's box with its person removed
    rows = []
    for n in names:
        p, f = people[n], fac[n]
        hole = hole_weight(p.mask) > 0
        empty = gen.compose(Factors(f.fg, f.bg, torch.zeros_like(f.keypoints)))[0]
        small = (hole * 255).astype(np.uint8)
        shiftmap = np.zeros_like(p.region)
        cv2.xphoto.inpaint(p.region, 255 - small, shiftmap, cv2.xphoto.INPAINT_SHIFTMAP)
        rows.append(
            row(
                [
                    p.region,
                    p.empty(empty),
                    cv2.inpaint(p.region, small, 5, cv2.INPAINT_TELEA),
                    cv2.inpaint(p.region, small, 5, cv2.INPAINT_NS),
                    shiftmap,
                ],
                height=256,
            )
        )
    Image.fromarray(grid(rows)).save(DOCS / "photo-fill.png")
    print("wrote docs/photo-edits.png and docs/photo-fill.png")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--pictures", action="store_true", help="write docs/photo-edits.png and docs/photo-fill.png")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = PersonGenerator.from_checkpoint(args.checkpoint, "cpu")
    speed(gen, max(1, args.repeats))
    if args.pictures:
        pictures(gen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
