"""Named slider directions for a model trained on real people (issue 20; ``dpg.directions``).

    python -m train.directions --checkpoint assets/dpg-demo.safetensors --data /work/prepared/pedestrians \\
        --peta ../shared/data/real/peta --out assets/dpg-demo-directions.safetensors

Encodes ``--n`` training crops of a prepared folder (``dpg prepare``; cached under ``--cache``
by the model's ``checkpoint_id``, so a rerun takes seconds), labels them, and for every
candidate below finds the class-mean difference of the factor's values, taken within each
camera set (PETA's subsets: CUHK, TownCentre, ...) and averaged, so that what tells the sets
apart (their light, their cameras) does not leak into a clothing direction
(``dpg.directions.find_direction`` with groups). Candidates:

* foreground: PETA attributes (``Label.txt`` of each subset) of the crop's person;
* background: the top against the bottom third of a measure of the photo's pixels outside
  the person mask (``background_measures``: brightness, greenness, warmth);
* pose: measures of all training keypoints (``pose_measures``: stride, back view, arms out)
  in the pose auto-encoder's code space.

A candidate is kept when its direction separates its classes in people it was not fitted on:
the training identities are split in two halves, a direction is fitted on one half and the
AUC of the projections measured on the other (both ways, averaged). The best ``--per-factor``
with an AUC of at least ``--min-auc`` are kept, skipping one whose vector is within
``--max-cos`` of a kept one (black top and white top are nearly opposite: one slider);
the kept directions are then fitted on all the crops. The table of every candidate is
printed. The output records the model's ``checkpoint_id``: recompute it for a new model.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata

from dpg.data.annotations import read_annotation_csv
from dpg.data.market import read_split
from dpg.data.peta import crop_attributes, read_labels
from dpg.directions import (
    NamedDirection,
    background_measures,
    checkpoint_id,
    directions_path,
    find_direction,
    pose_measures,
    save_directions,
    tercile_labels,
)
from dpg.errors import UserError
from dpg.inference import PersonGenerator
from train.cli import user_errors

HERE = Path(__file__).resolve().parent
SHARED = os.environ.get("DPG_SHARED_DATA", str(HERE.parent.parent / "shared" / "data"))

# (PETA attribute, name on the page). Personal attributes (sex, age) are left out on purpose:
# a slider that changes someone's apparent sex or age is not an edit of their clothes.
FG_CANDIDATES = (
    ("upperBodyRed", "red top"),
    ("upperBodyWhite", "white top"),
    ("upperBodyBlack", "black top"),
    ("upperBodyBlue", "blue top"),
    ("upperBodyGrey", "grey top"),
    ("upperBodyShortSleeve", "short sleeves"),
    ("upperBodyJacket", "jacket"),
    ("lowerBodyJeans", "jeans"),
    ("lowerBodyShorts", "shorts"),
    ("lowerBodyShortSkirt", "skirt"),
    ("lowerBodyBlack", "black trousers"),
    ("lowerBodyBlue", "blue trousers"),
    ("lowerBodyGrey", "grey trousers"),
    ("hairLong", "long hair"),
    ("carryingBackpack", "backpack"),
    ("carryingMessengerBag", "shoulder bag"),
    ("footwearWhite", "white shoes"),
)
# (measure of dpg.directions, name on the page)
BG_CANDIDATES = (("brightness", "brighter background"), ("greenness", "greener background"), ("warmth", "warmer light"))
POSE_CANDIDATES = (("stride", "wider stride"), ("facing_away", "facing away"), ("arms_out", "arms out"))
BINARY_MEASURES = {"facing_away"}  # already 0/1; the others are split in thirds


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for ``labels`` in {0, 1} (Mann-Whitney U, ties
    counted half). NaN when a class is absent."""
    s, y = np.asarray(scores, np.float64), np.asarray(labels) == 1
    n1, n0 = int(y.sum()), int((~y).sum())
    if not n1 or not n0:
        return float("nan")
    ranks = rankdata(s)  # ties share their mean rank
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def held_out_auc(x: np.ndarray, y: np.ndarray, half: np.ndarray, groups: np.ndarray) -> float:
    """Mean AUC of a direction fitted on one half of the identities, scored on the other."""
    out = []
    for fit in (half, ~half):
        known, held = fit & (y >= 0), ~fit & (y >= 0)
        try:
            v, _ = find_direction(x[known], y[known], groups[known])
        except ValueError:
            return float("nan")
        out.append(auc(x[held] @ v.double().numpy(), y[held]))
    return float(np.mean(out))


def choose(factor, x, labels, candidates, sources, half, groups, keep, min_auc, max_cos, min_count=30):
    """Score every candidate (a column of ``labels``), print a row each, return the kept
    ``NamedDirection``s fitted on all rows of ``x``."""
    scored = []
    for j in range(len(candidates)):
        y = labels[:, j]
        n1, n0 = int((y == 1).sum()), int((y == 0).sum())
        a = held_out_auc(x, y, half, groups) if min(n1, n0) >= min_count else float("nan")
        scored.append((a, j, n1, n0))
    kept: list[NamedDirection] = []
    rows = []
    for a, j, n1, n0 in sorted(scored, key=lambda r: -np.nan_to_num(r[0], nan=-1)):
        name = candidates[j][1]
        status = "too few" if not np.isfinite(a) else f"AUC < {min_auc}" if a < min_auc else ""
        if not status and len(kept) >= keep:
            status = "enough kept"
        if not status:
            v, s = find_direction(x, labels[:, j], groups)
            near = [d.name for d in kept if abs(float(d.vector @ v)) > max_cos]
            if near:
                status = f"like {near[0]}"
            else:
                kept.append(NamedDirection(name, factor, v, s, sources[j]))
                status = "KEPT"
        rows.append(f"{factor:5s} {name:22s} {sources[j]:34s} {n1:6d} {n0:6d} {a:6.3f}  {status}")
    print(f"{'factor':5s} {'name':22s} {'from':34s} {'class1':>6s} {'class0':>6s} {'AUC':>6s}  kept?")
    print("\n".join(rows), flush=True)
    return kept


def encode_cached(gen, data: str, n: int, seed: int, cache_dir: str, ckid: str):
    """Names, keypoints, fg ``[N, 224]``, bg ``[N, 128]`` and background measures of ``n``
    training crops of ``data`` (``read_split``), cached in ``cache_dir`` as a plain .npz (no
    pickles) under the model's id ``ckid``."""
    cache = Path(cache_dir) / f"{ckid}-train-{n}-{seed}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            print(f"# embeddings from {cache}", flush=True)
            return [str(n) for n in z["names"]], z["kps"], z["fg"], z["bg"], {k[3:]: z[k] for k in z.files if k.startswith("bm_")}
    t = time.time()
    names, images, kps, masks = read_split(data, "train", n, seed)
    print(f"# read {len(names)} training crops in {time.time() - t:.0f} s; encoding", flush=True)
    fg, bg = [], []
    for i in range(0, len(images), 64):
        f = gen.encode(images[i : i + 64], kps[i : i + 64])
        fg.append(f.fg.cpu().numpy())
        bg.append(f.bg.cpu().numpy())
    fg, bg = np.concatenate(fg), np.concatenate(bg)
    measures = background_measures(images, masks)
    print(f"# encoded in {time.time() - t:.0f} s; cached in {cache}", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, names=np.array(names), kps=kps, fg=fg, bg=bg, **{f"bm_{k}": v for k, v in measures.items()})
    return names, kps, fg, bg, measures


def source_sets(data: str, names) -> np.ndarray:
    """The camera set each crop came from (``prepare-index.csv``: the folder of its source
    photo, e.g. PETA's ``CUHK``), as ``[N]`` strings; directions are found within each."""
    with open(os.path.join(data, "prepare-index.csv"), newline="") as f:
        where = {row["name"]: os.path.basename(os.path.dirname(row["source"])) for row in csv.DictReader(f)}
    return np.array([where.get(n, "") for n in names])


def identity_half(names) -> np.ndarray:
    """bool ``[N]``: a fixed half of the identities (a crop name's first field), by CRC32."""
    return np.array([zlib.crc32(n.split("_")[0].encode()) % 2 == 0 for n in names])


@user_errors
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="the model (default: the bundled one)")
    p.add_argument("--data", required=True, help="a prepared folder of real people (dpg prepare)")
    p.add_argument("--peta", default=os.path.join(SHARED, "real", "peta"), help="PETA's root (subset folders with Label.txt)")
    p.add_argument("--out", default=None, help="output .safetensors (default: beside the checkpoint, <stem>-directions)")
    p.add_argument("--n", type=int, default=6000, help="training crops to encode (default 6000)")
    p.add_argument(
        "--per-factor",
        type=int,
        nargs=3,
        default=(6, 3, 3),
        metavar=("FG", "BG", "POSE"),
        help="most named directions kept per factor (default 6 3 3)",
    )
    p.add_argument("--min-auc", type=float, default=0.65, help="least held-out AUC to keep a direction (default 0.65)")
    p.add_argument("--max-cos", type=float, default=0.7, help="most |cos| to a kept direction of the factor (default 0.7)")
    p.add_argument("--cache", default="/tmp/dpg-directions-cache", help="where encoded crops are cached")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    if not os.path.isdir(args.peta):
        raise UserError(f"PETA not found at {args.peta}: pass --peta (the folder of 3DPeS/, CUHK/, ... with Label.txt)")
    if not os.path.isfile(os.path.join(args.data, "prepare-index.csv")):
        raise UserError(f"{args.data} is not a prepared folder (no prepare-index.csv): run dpg prepare, or pass --data")
    t0 = time.time()
    gen = PersonGenerator.from_checkpoint(args.checkpoint, args.device)
    ckid = checkpoint_id(gen.model)
    out = Path(args.out) if args.out else directions_path(gen.checkpoint)
    print(f"# model {gen.checkpoint} (id {ckid})", flush=True)
    names, _, fg, bg, measures = encode_cached(gen, args.data, args.n, args.seed, args.cache, ckid)
    half, sets = identity_half(names), source_sets(args.data, names)
    kept: list[NamedDirection] = []

    attrs = [a for a, _ in FG_CANDIDATES]
    y = crop_attributes(args.data, names, read_labels(args.peta), attrs)  # [N, A] 1/0/-1
    print(f"# {int((y[:, 0] >= 0).sum())} of {len(names)} crops have PETA labels", flush=True)
    sources = [f"PETA {a}" for a in attrs]
    kept += choose("fg", fg, y, FG_CANDIDATES, sources, half, sets, args.per_factor[0], args.min_auc, args.max_cos)

    if "bg" in gen.factors:
        y = np.stack([tercile_labels(measures[m]) for m, _ in BG_CANDIDATES], 1)
        sources = [f"background {m}, top vs bottom third" for m, _ in BG_CANDIDATES]
        kept += choose("bg", bg, y, BG_CANDIDATES, sources, half, sets, args.per_factor[1], args.min_auc, args.max_cos)

    # the pose from every training row's keypoints (no images needed)
    pose_names, kps = read_annotation_csv(os.path.join(args.data, "market-annotation-train.csv"))
    with torch.no_grad():
        codes = torch.cat(
            [gen.model.encode_pose(torch.as_tensor(kps[i : i + 1024], device=gen.device)).cpu() for i in range(0, len(kps), 1024)]
        ).numpy()
    pm = pose_measures(kps, gen.height)
    y = np.stack(
        [
            np.where(np.isfinite(pm[m]), pm[m], -1).astype(np.int8) if m in BINARY_MEASURES else tercile_labels(pm[m])
            for m, _ in POSE_CANDIDATES
        ],
        1,
    )
    sources = [f"keypoints {m}" + ("" if m in BINARY_MEASURES else ", top vs bottom third") for m, _ in POSE_CANDIDATES]
    kept += choose(
        "pose",
        codes,
        y,
        POSE_CANDIDATES,
        sources,
        identity_half(pose_names),
        source_sets(args.data, pose_names),
        args.per_factor[2],
        args.min_auc,
        args.max_cos,
    )

    save_directions(out, kept, ckid)
    print(f"# wrote {len(kept)} directions to {out} in {time.time() - t0:.0f} s: " + ", ".join(f"{d.factor}:{d.name}" for d in kept))
    return 0


if __name__ == "__main__":
    sys.exit(main())
