"""Rebuild the README gallery with the ``dpg`` commands themselves, on the bundled weights.

    python docs/make_gallery.py
"""

import json
import os
import sys
import tempfile

import numpy as np
from PIL import Image

from dpg.cli import main as dpg
from dpg.data.synthetic import SyntheticPeople
from dpg.keypoints import JOINTS

HERE = os.path.dirname(os.path.abspath(__file__))


def person(tmp: str, index: int) -> str:
    """A held-out procedural person as IMAGE@KEYPOINTS for the command line."""
    r = SyntheticPeople(10, split="test").render(index)
    img, kp = os.path.join(tmp, f"p{index}.png"), os.path.join(tmp, f"p{index}.json")
    Image.fromarray(r.image).save(img)
    with open(kp, "w") as f:
        json.dump({"joints": list(JOINTS), "keypoints": r.keypoints.tolist()}, f)
    return f"{img}@{kp}"


def stack(paths: list[str], out: str) -> None:
    rows = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(rows, 0)).save(out)


def run(*args: str) -> None:
    rc = dpg(list(args))
    if rc:
        sys.exit(rc)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for fix, name in ((["bg", "pose"], "fg"), (["fg", "pose"], "bg"), (["fg", "bg"], "pose"), ([], "all")):
            run("sample", "-n", "8", "--out", f"{tmp}/{name}", "--fix", *fix)
        stack([f"{tmp}/{n}/sample-strip.png" for n in ("fg", "bg", "pose", "all")], f"{HERE}/gallery-sample.png")
        a, b = person(tmp, 1), person(tmp, 4)
        strips = []
        for i, extra in enumerate((["--factors", "fg"], ["--factors", "bg"], ["--factors", "pose"], ["--parts", "upper_body"])):
            run("swap", a, b, "--out", f"{tmp}/swap{i}", *extra)
            strips.append(f"{tmp}/swap{i}/swap-strip.png")
        stack(strips, f"{HERE}/gallery-swap.png")
        run("interpolate", "--seed-a", "3", "--seed-b", "11", "--steps", "8", "--out", f"{tmp}/lerp")
        run("interpolate", "--seed-a", "3", "--seed-b", "11", "--steps", "8", "--factor", "pose", "--out", f"{tmp}/lerp-pose")
        run("interpolate", "--a", a, "--b", b, "--steps", "8", "--out", f"{tmp}/inverse")
        stack([f"{tmp}/{n}/interpolation.png" for n in ("lerp", "lerp-pose", "inverse")], f"{HERE}/gallery-interpolate.png")
        photo = os.path.join(HERE, "..", "assets", "examples", "astronaut.jpg")
        run("swap", photo, b, "--factors", "bg", "--out", f"{tmp}/photo-bg")
        run("transfer", photo, "--pose-json", b.split("@")[1], "--out", f"{tmp}/photo-pose")
        stack([f"{tmp}/photo-bg/swap-strip.png", f"{tmp}/photo-pose/transfer.png"], f"{HERE}/gallery-photo.png")
    print("wrote docs/gallery-*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
