"""Accuracy of photo -> keypoints (``dpg.pose.detector.PoseDetector``) against the Market-1501 annotations.

The community annotations (``market-annotation-train.csv``) were made with OpenPose's COCO
model on the 64x128 crops; this measures how far mediapipe's joints, mapped to COCO-18, land
from them on the crops in ``bounding_box_train``::

    python bench/bench_keypoints.py [--data ../shared/data/market] [--json out.json]

Reported: the found rate per PETA subset (a seeded sample of real pedestrian crops, groups refused as
in the app); on the 20 annotated Market crops, how many had a person found; the mean and median distance in pixels over the
joints present in both (per joint too); joints the reference has that we call missing and the
reverse; the same distance with the eye and ear labels swapped, to check the left/right order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from dpg.errors import UserError
from dpg.keypoints import JOINTS
from dpg.pose.detector import PoseDetector

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(os.environ.get("DPG_SHARED_DATA", os.path.join(REPO, "..", "shared", "data")), "market")
# Left/right exchange of the four face joints only (14 <-> 15, 16 <-> 17).
FACE_SWAP = list(range(14)) + [15, 14, 17, 16]


def read_reference(csv_path: str) -> dict[str, np.ndarray]:
    """name -> keypoints ``[18, 3]`` from the community CSV (``dpg.data.annotations``)."""
    from dpg.data.annotations import read_annotation_csv

    names, keypoints = read_annotation_csv(csv_path)
    return dict(zip(names, keypoints, strict=True))


def evaluate(detector: PoseDetector, image_dir: str, reference: dict[str, np.ndarray]) -> dict:
    """Detect on every annotated image of ``image_dir``; distances to the reference.

    Returns a dict with ``names``, ``found`` (bool per image), ``distance`` (float ``[N, 18]``,
    NaN where either side lacks the joint), ``distance_face_swapped``, ``missed`` (reference
    joint we call missing, bool ``[N, 18]``) and ``extra`` (the reverse).
    """
    names = sorted(n for n in os.listdir(image_dir) if n in reference)
    n = len(names)
    out = {
        "names": names,
        "found": np.zeros(n, bool),
        "distance": np.full((n, 18), np.nan),
        "distance_face_swapped": np.full((n, 18), np.nan),
        "missed": np.zeros((n, 18), bool),
        "extra": np.zeros((n, 18), bool),
    }
    for i, name in enumerate(names):
        ref = reference[name]
        try:
            kp = detector.detect(os.path.join(image_dir, name)).keypoints
        except UserError:
            out["missed"][i] = ref[:, 2] > 0
            continue
        out["found"][i] = True
        for key, pred in (("distance", kp), ("distance_face_swapped", kp[FACE_SWAP])):
            both = (pred[:, 2] > 0) & (ref[:, 2] > 0)
            out[key][i, both] = np.hypot(*(pred[both, :2] - ref[both, :2]).T)
        out["missed"][i] = (ref[:, 2] > 0) & (kp[:, 2] == 0)
        out["extra"][i] = (ref[:, 2] == 0) & (kp[:, 2] > 0)
    return out


def summarise(r: dict) -> dict:
    d = r["distance"]
    found = r["found"]
    return {
        "images": len(r["names"]),
        "found": int(found.sum()),
        "joints_compared": int(np.isfinite(d).sum()),
        "mean_px": float(np.nanmean(d)),
        "median_px": float(np.nanmedian(d)),
        "within_5px": float(np.nanmean(np.where(np.isfinite(d), d <= 5, np.nan))),
        "mean_px_face_swapped": float(np.nanmean(r["distance_face_swapped"][:, 14:])),
        "mean_px_face": float(np.nanmean(d[:, 14:])),
        "missed_of_found": int(r["missed"][found].sum()),
        "extra_of_found": int(r["extra"][found].sum()),
        "per_joint_mean_px": {j: float(np.nanmean(d[:, k])) if np.isfinite(d[:, k]).any() else None for k, j in enumerate(JOINTS)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder with bounding_box_train/ and market-annotation-train.csv")
    parser.add_argument("--json", help="also write the summary here")
    parser.add_argument(
        "--peta",
        default=os.path.join(os.path.dirname(DEFAULT_DATA), "real", "peta"),
        help="PETA's subsets: the found rate per subset (default ../shared/data/real/peta)",
    )
    parser.add_argument("--per-subset", type=int, default=100, help="photos sampled per PETA subset (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    image_dir = os.path.join(args.data, "bounding_box_train")
    csv_path = os.path.join(args.data, "market-annotation-train.csv")
    if not (os.path.isdir(image_dir) and os.path.isfile(csv_path)):
        print(f"no Market data at {args.data} (need bounding_box_train/ and market-annotation-train.csv)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with PoseDetector() as detector:
        result = evaluate(detector, image_dir, read_reference(csv_path))
    s = summarise(result)
    s["seconds"] = round(time.perf_counter() - start, 1)
    print(f"person found in {s['found']} of {s['images']} crops ({s['seconds']} s)")
    print(f"FIGURE keypoints.found: {s['found']} of {s['images']} real Market-1501 crops")
    print(
        f"FIGURE keypoints.mean_error_px: {s['mean_px']:.2f}  (median {s['median_px']:.2f}, "
        f"{100 * s['within_5px']:.0f}% within 5 px, 64x128 crops)"
    )
    print(
        f"{s['joints_compared']} joints present in both: mean {s['mean_px']:.2f} px, median {s['median_px']:.2f} px, "
        f"{100 * s['within_5px']:.0f}% within 5 px (crops are 64x128)"
    )
    print(f"in found crops: {s['missed_of_found']} reference joints we call missing, {s['extra_of_found']} we add")
    face, swapped = s["mean_px_face"], s["mean_px_face_swapped"]
    print(f"eyes and ears: {face:.2f} px as labelled, {swapped:.2f} px with left and right swapped")
    for joint, err in s["per_joint_mean_px"].items():
        print(f"  {joint:15s} {'-' if err is None else f'{err:5.2f}'}")
    for name, found, d in zip(result["names"], result["found"], result["distance"], strict=True):
        print(f"  {name}  {'no person' if not found else f'{np.nanmean(d):5.2f} px'}")
    if args.peta and os.path.isdir(args.peta):
        s["peta"] = peta_found(args.peta, args.per_subset, args.seed)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(s, f, indent=1)
    return 0


def peta_found(root: str, per_subset: int, seed: int) -> dict:
    """The app's person finder (``PersonCropper``: groups refused, 4+ joints) on a seeded
    sample of each PETA subset; the overall rate weighs each subset by its size."""
    import random

    from dpg.pose.images import load_image
    from dpg.pose.person import PersonCropper

    cropper, out, total, weighted = PersonCropper(), {}, 0, 0.0
    for subset in sorted(os.listdir(root)):
        folder = os.path.join(root, subset)
        if not os.path.isdir(folder):
            continue
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))
        pick = random.Random(seed).sample(files, min(per_subset, len(files)))
        found = 0
        for f in pick:
            try:
                cropper.crop(load_image(os.path.join(folder, f)), (128, 64))
                found += 1
            except UserError:
                pass
        rate = found / max(1, len(pick))
        out[subset] = {"photos": len(files), "sampled": len(pick), "found": found, "rate": rate}
        total += len(files)
        weighted += rate * len(files)
        print(f"FIGURE keypoints.peta.{subset}.found: {rate:.3f}  ({found} of {len(pick)} sampled, {len(files)} in the subset)")
    out["overall"] = weighted / max(1, total)
    print(f"FIGURE keypoints.peta.found: {out['overall']:.3f}  (subsets weighed by size, {total} photos)")
    return out


if __name__ == "__main__":
    sys.exit(main())
