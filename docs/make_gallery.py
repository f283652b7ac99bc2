"""Rebuild the README gallery with the ``dpg`` commands themselves, on the bundled weights
(the default model, trained on real people) and the full-body street photos in
``assets/examples`` (Clothing Co-Parsing, Apache-2.0; none was trained on).

    python docs/make_gallery.py
"""

import os
import sys
import tempfile

import numpy as np
from PIL import Image

from dpg.cli import main as dpg

HERE = os.path.dirname(os.path.abspath(__file__))


def stack(paths: list[str], out: str) -> None:
    rows = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(rows, 0)).save(out)


def run(*args: str) -> None:
    rc = dpg(list(args))
    if rc:
        sys.exit(rc)


def reconstructions(photos: list[str], out: str, refine: int = 25) -> None:
    """Rows: each photo's person as the model sees it (the crop), its reconstruction from the
    encoders' embeddings, and from the embeddings refined ``refine`` steps (``--refine``)."""
    from dpg.inference import PersonGenerator

    gen = PersonGenerator.from_checkpoint(None, "cpu")
    crops, recons, refined = [], [], []
    for p in photos:
        person = gen.find_person(p)
        crops.append(person.crop)
        recons.append(gen.compose(gen.encode(person.crop[None], person.keypoints[None]))[0])
        refined.append(gen.compose(gen.encode(person.crop[None], person.keypoints[None], refine))[0])
    grid = np.concatenate([np.concatenate(rows, 1) for rows in (crops, recons, refined)], 0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(out)


def main() -> int:
    examples = os.path.join(HERE, "..", "assets", "examples")
    a, b, c, d = (os.path.join(examples, f"street-{n}.jpg") for n in ("1001", "1020", "1004", "1016"))
    with tempfile.TemporaryDirectory() as tmp:
        for fix, name in ((["bg", "pose"], "fg"), (["fg", "pose"], "bg"), (["fg", "bg"], "pose"), ([], "all")):
            run("sample", "-n", "8", "--out", f"{tmp}/{name}", "--fix", *fix)
        stack([f"{tmp}/{n}/sample-strip.png" for n in ("fg", "bg", "pose", "all")], f"{HERE}/gallery-sample.png")
        reconstructions([a, b, c, d], f"{HERE}/gallery-recon.png")
        strips = []
        for i, (x, y, extra) in enumerate(
            (
                (a, b, ["--factors", "fg"]),
                (a, b, ["--factors", "bg"]),
                (a, b, ["--factors", "pose"]),
                (c, d, ["--factors", "fg"]),
                (c, d, ["--parts", "upper_body"]),
            )
        ):
            run("swap", x, y, "--out", f"{tmp}/swap{i}", *extra)
            strips.append(f"{tmp}/swap{i}/swap-strip.png")
        stack(strips, f"{HERE}/gallery-swap.png")
        run("interpolate", "--seed-a", "3", "--seed-b", "11", "--steps", "8", "--out", f"{tmp}/lerp")
        run("interpolate", "--seed-a", "3", "--seed-b", "11", "--steps", "8", "--factor", "pose", "--out", f"{tmp}/lerp-pose")
        run("interpolate", "--a", a, "--b", c, "--steps", "8", "--hops", "5", "--out", f"{tmp}/inverse")
        stack([f"{tmp}/{n}/interpolation.png" for n in ("lerp", "lerp-pose", "inverse")], f"{HERE}/gallery-interpolate.png")
    print("wrote docs/gallery-*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
