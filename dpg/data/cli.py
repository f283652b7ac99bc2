"""``dpg prepare`` (folders of photos -> a training set, ``dpg.data.prepare``), and
``dpg render-synthetic`` and ``dpg preview-synthetic``: procedural people on disk.

``render-synthetic`` writes a folder in Market-1501 layout and naming, so every reader,
trainer and re-ID tool built for Market-1501 runs on it unchanged::

    OUT/bounding_box_train/PPPP_cCsS_FFFFFF_BB.jpg   market-annotation-train.csv
    OUT/bounding_box_test/ (with --test-identities)  market-annotation-test.csv
    OUT/query/             (with --test-identities)  market-annotation-query.csv
    market-pairs-train.csv, market-pairs-test.csv    (all same-identity pairs with both
                                                      shoulders and hips, the PATN rule)
    synthetic-factors.csv                            name, split, identity, camera and the
                                                      three factor seeds of every image

Person ids run 0001..N for training and N+1..N+K for testing (disjoint, as in Market-1501);
``cC`` is the background's camera, ``sS`` a sequence drawn from the background seed,
``FFFFFF`` a running frame number, ``BB`` 01. The images of the train split are exactly items
``0 .. N*M-1`` of ``SyntheticPeople(split="train", identities=N, seed=SEED)``; the test gallery
and queries come from ``split="test"``, which shares no factor seed with training.

``preview-synthetic`` writes the README's preview grid (``dpg.synthetic.people.preview_grid``).
"""

from __future__ import annotations

import argparse
import csv
import os

import numpy as np
from PIL import Image
from tqdm import tqdm

from dpg.argtypes import seed
from dpg.data.annotations import write_annotation_csv, write_pairs_csv
from dpg.data.folder import derive_pairs
from dpg.data.prepare import prepare
from dpg.errors import UserError
from dpg.synthetic.people import STYLE_SIZES, SyntheticPeople, load_poses, preview_grid, render

MAX_PERSON_ID = 9999  # four digits in a Market-1501 name
MAX_FRAME = 999999


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is no size; use HxW such as 128x64") from None
    if not (16 <= h <= 2048 and 16 <= w <= 2048):
        raise argparse.ArgumentTypeError(f"size {text} is out of range (16..2048 per side)")
    return h, w


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render-synthetic",
        help="render procedural people as a Market-1501-style folder (images + keypoint CSVs)",
        description="Render procedural people (dpg.synthetic.people) into a folder in Market-1501 layout and "
        "naming, with the community keypoint and pair CSVs and a CSV of every image's factor seeds.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (its image folders must be empty)")
    p.add_argument("--identities", type=int, required=True, metavar="N", help="training identities")
    p.add_argument("--per-identity", type=int, required=True, metavar="M", help="training images per identity")
    p.add_argument(
        "--test-identities",
        type=int,
        default=0,
        metavar="K",
        help="held-out identities for bounding_box_test/ and query/ (default 0: none)",
    )
    p.add_argument("--test-per-identity", type=int, metavar="M", help="gallery images per test identity (default: --per-identity)")
    p.add_argument("--query-per-identity", type=int, default=2, metavar="Q", help="query images per test identity (default 2)")
    p.add_argument(
        "--style",
        choices=("market", "studio"),
        default="market",
        help="street pedestrians (default) or the DeepFashion-like studio setting",
    )
    p.add_argument("--size", type=_size, metavar="HxW", help="image size (default 128x64 for market, 256x256 for studio)")
    p.add_argument("--poses", metavar="CSV", help="real training poses: a community annotation CSV at the image size (default: procedural)")
    p.add_argument("--test-poses", metavar="CSV", help="real held-out poses for the test split (default: procedural)")
    p.add_argument("--seed", type=seed, default=0, help="base seed (default 0)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    p.set_defaults(func=render_synthetic)

    r = subparsers.add_parser(
        "prepare",
        help="turn folders of person photos into a training set (Market-1501 layout, keypoints, masks)",
        description="Find the one person in every photo under SRC (recursively), crop at the model's aspect "
        "ratio and size, and write the Market-1501 layout the trainers read, with keypoint CSVs, same-identity "
        "test pairs, a person mask per crop and a report of every refused photo. Resumable: a re-run skips "
        "what is done. See dpg.data.prepare.",
    )
    r.add_argument("sources", nargs="+", metavar="SRC", help="folders of photos (read recursively)")
    r.add_argument("--out", required=True, metavar="ROOT", help="the prepared folder")
    r.add_argument("--size", type=_size, default=(128, 64), metavar="HxW", help="crop size (default 128x64)")
    r.add_argument(
        "--ids",
        default=None,
        metavar="REGEX|FILE",
        help="identity per photo: a regex over the file name (first group), or a CSV of name,identity "
        "(default: the name's first '_'-separated field)",
    )
    r.add_argument("--test-fraction", type=float, default=0.1, help="held-out fraction of identities (default 0.1)")
    r.add_argument("--seed", type=seed, default=0, help="seed of the train/test split (default 0)")
    r.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    r.set_defaults(func=prepare_command)

    q = subparsers.add_parser(
        "preview-synthetic",
        help="write a preview grid of procedural people, one factor varied per row",
        description="Write a PNG of procedural people whose rows vary one factor at a time (appearance, "
        "background, pose, real pose), plus a row of the 256x256 studio setting.",
    )
    q.add_argument("--out", required=True, metavar="PNG", help="output image")
    q.add_argument("--poses", metavar="CSV", help="real poses for the 'real pose' row (a 128x64 community annotation CSV)")
    q.add_argument("--columns", type=int, default=8, help="people per row (default 8)")
    q.add_argument("--seed", type=seed, default=3, help="seed of the fixed factors (default 3, a front view)")
    q.add_argument("--zoom", type=int, default=2, help="integer upscaling for display (default 2)")
    q.set_defaults(func=preview_synthetic)


def _load_poses(path: str | None, size: tuple[int, int]) -> np.ndarray | None:
    if path is None:
        return None

    return load_poses(path, size)  # coordinates outside the image size, or no usable row, are errors


def _check_folder(path: str) -> None:
    if os.path.isdir(path) and os.listdir(path):
        raise UserError(f"{path} is not empty; choose another --out or empty it first")


def _write_split(out: str, folder: str, dataset, items: range, first_id: int, quality: int, rows: list):
    """Render ``items`` of ``dataset`` into ``out/folder``, adding a factor row per image to
    ``rows``; return the names, keypoints ``[N, 18, 3]`` and person ids."""

    os.makedirs(os.path.join(out, folder), exist_ok=True)
    names, keypoints, ids = [], [], []
    for frame, index in enumerate(tqdm(items, desc=folder, unit="img", leave=False), start=1):
        appearance, background, pose = dataset.factors(index)
        result = render(appearance, background, pose)
        person = first_id + result.identity
        sequence = 1 + (background.seed // 7) % 6
        name = f"{person:04d}_c{result.camera}s{sequence}_{frame:06d}_01.jpg"
        Image.fromarray(result.image).save(os.path.join(out, folder, name), quality=quality)
        names.append(name)
        keypoints.append(result.keypoints)
        ids.append(person)
        rows.append((name, folder, person, result.camera, appearance.seed, background.seed, pose.seed))
    return names, np.stack(keypoints) if keypoints else np.zeros((0, 18, 3), np.float32), ids


def prepare_command(args) -> int:

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    summary = prepare(args.sources, args.out, args.size, args.ids, args.test_fraction, args.seed, args.workers)
    print("\n".join(summary.lines()))
    print(f"prepared {args.out}: {args.size[0]}x{args.size[1]} crops; refused photos in {args.out}/prepare-report.csv")
    return 0


def render_synthetic(args) -> int:

    n, m, k = args.identities, args.per_identity, args.test_identities
    test_m = args.test_per_identity if args.test_per_identity is not None else m
    if n < 1 or m < 1:
        raise UserError("--identities and --per-identity must be at least 1")
    if k < 0 or test_m < 1 or args.query_per_identity < 0:
        raise UserError("--test-identities and --query-per-identity must be >= 0 and --test-per-identity >= 1")
    if n + k > MAX_PERSON_ID:
        raise UserError(f"{n + k} identities do not fit Market-1501's 4-digit person ids (at most {MAX_PERSON_ID})")
    if max(n * m, k * test_m, k * args.query_per_identity) > MAX_FRAME:
        raise UserError(f"more than {MAX_FRAME} images in one folder do not fit Market-1501's 6-digit frame numbers")
    if args.seed < 0:
        raise UserError("--seed must be non-negative")
    if not 1 <= args.quality <= 100:
        raise UserError("--quality must be in 1..100")
    size = args.size or STYLE_SIZES[args.style]
    out = args.out
    folders = ["bounding_box_train"] + (["bounding_box_test", "query"] if k else [])
    for folder in folders:
        _check_folder(os.path.join(out, folder))
    os.makedirs(out, exist_ok=True)

    rows: list = []
    common = {"style": args.style, "size": size, "seed": args.seed}
    train = SyntheticPeople(split="train", identities=n, poses=_load_poses(args.poses, size), **common)
    names, kp, ids = _write_split(out, "bounding_box_train", train, range(n * m), 1, args.quality, rows)
    write_annotation_csv(os.path.join(out, "market-annotation-train.csv"), names, kp)
    write_pairs_csv(os.path.join(out, "market-pairs-train.csv"), derive_pairs(names, kp, ids))
    written = len(names)
    if k:
        test = SyntheticPeople(split="test", identities=k, poses=_load_poses(args.test_poses, size), **common)
        names, kp, ids = _write_split(out, "bounding_box_test", test, range(k * test_m), n + 1, args.quality, rows)
        write_annotation_csv(os.path.join(out, "market-annotation-test.csv"), names, kp)
        write_pairs_csv(os.path.join(out, "market-pairs-test.csv"), derive_pairs(names, kp, ids))
        queries = range(k * test_m, k * (test_m + args.query_per_identity))
        q_names, q_kp, _ = _write_split(out, "query", test, queries, n + 1, args.quality, rows)
        write_annotation_csv(os.path.join(out, "market-annotation-query.csv"), q_names, q_kp)
        written += len(names) + len(q_names)
    with open(os.path.join(out, "synthetic-factors.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("name", "folder", "identity", "camera", "appearance_seed", "background_seed", "pose_seed"))
        writer.writerows(rows)
    print(f"wrote {written} images of {n + k} identities ({size[0]}x{size[1]}, {args.style}) to {out}")
    return 0


def preview_synthetic(args) -> int:

    if args.columns < 2 or args.zoom < 1:
        raise UserError("--columns must be at least 2 and --zoom at least 1")
    poses = _load_poses(args.poses, (128, 64))
    grid = preview_grid(args.columns, args.seed, poses)
    image = Image.fromarray(grid)
    if args.zoom > 1:
        image = image.resize((image.width * args.zoom, image.height * args.zoom), Image.NEAREST)
    folder = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(folder, exist_ok=True)
    image.save(args.out)
    print(f"wrote {args.out} ({image.width}x{image.height})")
    return 0
