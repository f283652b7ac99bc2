"""``dpg prepare``: any folders of person photos -> a training set in Market-1501 layout.

The road from photos to what the readers and trainers take (``dpg.data.market``,
``dpg.data.sources.stage1_dataset``)::

    ROOT/bounding_box_train/PPPP_c1sS_FFFFFF_00.jpg   market-annotation-train.csv
    ROOT/bounding_box_test/  (held-out identities)    market-annotation-test.csv
    ROOT/masks/<name>.png    person mask of each crop  market-pairs-test.csv (same-identity pairs)
    ROOT/prepare.json        size, sources, counts     prepare-index.csv (name -> source photo)
    ROOT/prepare-report.csv  every refused photo and why

Each photo goes through the app's own person finder (``dpg.pose.person.PersonCropper``: group
photos, no person, too few joints are refused with the app's messages), is cropped at the
model's aspect ratio around the joints and resized to ``size``; where the box leaves the
photo it is padded with the photo's blurred mirror image (``dpg.pose.images.crop_person``: no
streaks, no black bars). The keypoint CSVs hold the joints of the written
crop. The mask is mediapipe's person segmentation cut like the crop, or the source's own where
it has one (``<folder>/../masks/<stem>.png`` with labels, ``> 0`` = person, as Clothing
Co-Parsing ships them).

Identities: ``ids`` is a regular expression over the file name whose first group (or whole
match) is the person label; the default takes the first ``_``-separated field (PETA and
Market-1501 name files so; a name without ``_`` is its own person). The label is scoped by
the photo's folder relative to its source, so two sources or two PETA subsets never share an
identity. Identities are numbered 0001.. in sorted order and split train/test by a seeded
permutation (``test_fraction`` of the identities), so names and splits are fixed before any
photo is read: a re-run skips every photo already done (a per-photo record in ``.records/``)
and ends with the same files as an uninterrupted run.

Person ids have four or more digits (the readers accept more than Market's four); ``cC`` is
1, ``sS`` the source's number (1-9), ``FFFFFF`` the photo's number within its identity.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing as mp
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from dpg.data.annotations import write_annotation_csv, write_pairs_csv
from dpg.data.folder import derive_pairs
from dpg.errors import UserError
from dpg.pose.detector import PoseDetector
from dpg.pose.images import crop_person, load_image
from dpg.pose.person import PersonCropper

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
DEFAULT_IDS = r"^([^_.]+)"  # the first field of the name
MAX_SOURCES = 9  # one digit of the Market name's sequence field
QUALITY = 95


@dataclass(frozen=True)
class Photo:
    """One source photo and where its crop goes."""

    path: str
    source: int  # 1-based index of the SRC it came from
    label: str  # the identity's key: "<source>:<folder>:<label>"
    person: int = 0  # 1-based identity number
    frame: int = 0  # index within the identity
    split: str = "train"

    @property
    def name(self) -> str:
        return f"{self.person:04d}_c1s{self.source}_{self.frame:06d}_00.jpg"


@dataclass
class Summary:
    """What a run wrote: per source folder, photos found, written (train/test), refused."""

    out: str
    size: tuple[int, int]
    per_source: dict[str, Counter] = field(default_factory=dict)
    reasons: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        rows = [f"{'source':48s} {'photos':>7s} {'train':>7s} {'test':>6s} {'refused':>8s}"]
        for src, c in self.per_source.items():
            rows.append(f"{src[-48:]:48s} {c['photos']:7d} {c['train']:7d} {c['test']:6d} {c['refused']:8d}")
        for reason, n in self.reasons.most_common():
            rows.append(f"  refused {n:6d}: {reason}")
        return rows


def _identity_pattern(ids: str | None):
    """``ids`` -> name -> label. A file of ``name,label`` rows, or a regex, or the default."""
    if ids and os.path.isfile(ids):
        with open(ids, newline="") as f:
            table = {row[0]: row[1] for row in csv.reader(f) if len(row) >= 2}
        return lambda name: table.get(name, table.get(os.path.splitext(name)[0]))
    try:
        rx = re.compile(ids or DEFAULT_IDS)
    except re.error as err:
        raise UserError(f"--ids {ids!r} is neither a file nor a regular expression ({err})") from None

    def label(name: str) -> str | None:
        m = rx.search(name)
        if m is None:
            return None
        return m.group(1) if m.groups() else m.group(0)

    return label


def plan(sources: list[str], ids: str | None = None, test_fraction: float = 0.1, seed: int = 0) -> list[Photo]:
    """Every photo under ``sources`` with its identity, split and output name (module doc)."""
    if not sources:
        raise UserError("no source folder given: pass one or more folders of person photos")
    if len(sources) > MAX_SOURCES:
        raise UserError(f"at most {MAX_SOURCES} source folders per prepared set, got {len(sources)}")
    if not 0 <= test_fraction < 1:
        raise UserError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    label_of = _identity_pattern(ids)
    photos = []
    for s, src in enumerate(sources, start=1):
        if not os.path.isdir(src):
            raise UserError(f"{src} is not a folder of photos")
        found = 0
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames if d != "masks")  # a source's own masks are no photos
            rel = os.path.relpath(dirpath, src)
            for fn in sorted(filenames):
                if not fn.lower().endswith(PHOTO_EXTENSIONS):
                    continue
                label = label_of(fn)
                key = f"{s}:{rel}:{label if label is not None else fn}"
                photos.append(Photo(os.path.join(dirpath, fn), s, key))
                found += 1
        if not found:
            raise UserError(f"{src} holds no photo ({', '.join(PHOTO_EXTENSIONS)})")
    labels = sorted({p.label for p in photos})
    if len(labels) < 2 and test_fraction > 0:
        test = set()
    else:
        order = np.random.default_rng(seed).permutation(len(labels))
        n_test = round(test_fraction * len(labels))
        test = {labels[i] for i in order[:n_test]}
    number = {lab: i + 1 for i, lab in enumerate(labels)}
    frames: Counter = Counter()
    out = []
    for p in photos:
        frames[p.label] += 1
        out.append(Photo(p.path, p.source, p.label, number[p.label], frames[p.label] - 1, "test" if p.label in test else "train"))
    return out


# ----------------------------------------------------------------------------------------
# One photo (in a worker process)

_WORKER: dict = {}


def _cropper():
    if "cropper" not in _WORKER:
        # built once per worker process: the mediapipe graphs take about a second
        _WORKER["cropper"] = PersonCropper(PoseDetector(segmentation=True))
    return _WORKER["cropper"]


def _source_mask(path: str) -> np.ndarray | None:
    """The source's own person mask of ``path`` (``../masks/<stem>.png``, labels > 0), or None."""
    folder, fn = os.path.split(path)
    candidate = os.path.join(os.path.dirname(folder), "masks", os.path.splitext(fn)[0] + ".png")
    if not os.path.isfile(candidate):
        return None
    return (np.asarray(Image.open(candidate).convert("L")) > 0).astype(np.uint8) * 255


def process(photo: Photo, out: str, size: tuple[int, int]) -> dict:
    """Crop one photo into ``out``; returns its record (keypoints, or the refusal reason)."""

    record = {"name": photo.name, "split": photo.split, "source": photo.path}
    try:
        image = load_image(photo.path)
        found = _cropper().find(image, size, name=os.path.basename(photo.path))
        mask = found.mask
        own = _source_mask(photo.path)
        if own is not None and own.shape == image.shape[:2]:
            mask = crop_person(np.repeat(own[:, :, None], 3, axis=2), np.zeros((18, 3)), found.box, size, zeros=True)[0][:, :, 0]
        if mask is None:
            mask = np.full(size, 255, np.uint8)
    except UserError as err:
        record["refused"] = str(err).replace(photo.path, "the photo").replace(os.path.basename(photo.path), "the photo")
        return record
    except Exception as err:  # noqa: BLE001 - one bad photo never ends a run of thousands
        record["refused"] = f"could not be processed ({type(err).__name__}: {err})"
        return record
    folder = Path(out) / f"bounding_box_{photo.split}"
    _atomic_image(Image.fromarray(found.crop), folder / photo.name, quality=QUALITY)
    _atomic_image(Image.fromarray(mask), Path(out) / "masks" / (os.path.splitext(photo.name)[0] + ".png"))
    record["keypoints"] = np.round(found.keypoints, 2).tolist()
    return record


def _atomic_image(im: Image.Image, path: Path, **kw) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    im.save(tmp, format="JPEG" if path.suffix == ".jpg" else "PNG", **kw)
    os.replace(tmp, path)


def _record_path(out: str, photo: Photo) -> Path:
    key = hashlib.sha1(f"{photo.path}|{photo.name}".encode()).hexdigest()[:16]
    return Path(out) / ".records" / f"{key}.json"


def _work(job) -> dict:
    photo, out, size = job
    path = _record_path(out, photo)
    record = process(photo, out, size)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)  # written last: a photo counts as done only with its record
    return record


# ----------------------------------------------------------------------------------------
# The whole run


def prepare(
    sources: list[str],
    out: str,
    size: tuple[int, int] = (128, 64),
    ids: str | None = None,
    test_fraction: float = 0.1,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Summary:
    """Prepare ``sources`` into ``out`` (module doc); resumable; returns the ``Summary``."""
    h, w = size
    if not (16 <= h <= 2048 and 16 <= w <= 2048):
        raise UserError(f"size {h}x{w} is out of range (16..2048 per side)")
    photos = plan(sources, ids, test_fraction, seed)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    info_path = root / "prepare.json"
    info = {
        "size": [h, w],
        "sources": [os.path.abspath(s) for s in sources],
        "ids": ids or DEFAULT_IDS,
        "test_fraction": test_fraction,
        "seed": seed,
    }
    if info_path.exists():
        old = json.loads(info_path.read_text())
        if {k: old.get(k) for k in info} != info:
            raise UserError(f"{out} was prepared with other settings ({info_path}); use another --out")
    for sub in ("bounding_box_train", "bounding_box_test", "masks", ".records"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stale in root.rglob(".*.tmp"):  # left by an interrupted write
        stale.unlink()
    todo = [p for p in photos if not _record_path(out, p).exists()]
    jobs = [(p, out, (h, w)) for p in todo]
    workers = max(1, workers or os.cpu_count() or 1)
    bar = None
    if progress:
        bar = tqdm(total=len(photos), initial=len(photos) - len(todo), unit="photo", file=sys.stderr)
    if workers == 1 or len(jobs) < 2:
        for job in jobs:
            _work(job)
            if bar:
                bar.update(1)
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(_work, jobs, chunksize=8):
                if bar:
                    bar.update(1)
    if bar:
        bar.close()
    return _assemble(photos, root, sources, info)


def _assemble(photos: list[Photo], root: Path, sources: list[str], info: dict) -> Summary:
    """Write the CSVs, the report and ``prepare.json`` from the per-photo records."""
    summary = Summary(str(root), tuple(info["size"]))
    rows: dict[str, list] = {"train": [], "test": []}
    index, refused = [], []
    for p in photos:
        record = json.loads(_record_path(str(root), p).read_text())
        c = summary.per_source.setdefault(sources[p.source - 1], Counter())
        c["photos"] += 1
        if "refused" in record:
            c["refused"] += 1
            summary.reasons[record["refused"].split(";")[0]] += 1
            refused.append((p.path, record["refused"]))
            continue
        c[p.split] += 1
        rows[p.split].append((p.name, np.asarray(record["keypoints"], np.float32)))
        index.append((p.name, p.split, p.label, p.path))
    for split, items in rows.items():
        names = [n for n, _ in items]
        kp = np.stack([k for _, k in items]) if items else np.zeros((0, 18, 3), np.float32)
        write_annotation_csv(root / f"market-annotation-{split}.csv", names, kp)
    _write_test_pairs(root / "market-pairs-test.csv", rows["test"])
    with open(root / "prepare-report.csv", "w", newline="") as f:
        csv.writer(f).writerows([("photo", "reason"), *refused])
    with open(root / "prepare-index.csv", "w", newline="") as f:
        csv.writer(f).writerows([("name", "split", "identity", "source"), *index])
    info = info | {"counts": {src: dict(c) for src, c in summary.per_source.items()}}
    info_path = root / "prepare.json"
    tmp = info_path.with_name(".prepare.json.tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, info_path)
    return summary


def _write_test_pairs(path: Path, items: list) -> None:
    """Ordered same-identity pairs of the test split (both with shoulders and hips)."""
    names = [n for n, _ in items]
    kp = np.stack([k for _, k in items]) if items else np.zeros((0, 18, 3), np.float32)
    ident = [int(n.split("_")[0]) for n in names]
    write_pairs_csv(path, derive_pairs(names, kp, ident))


def read_info(root: str | os.PathLike) -> dict | None:
    """A prepared folder's ``prepare.json``, or None for any other folder."""
    path = Path(root) / "prepare.json"
    return json.loads(path.read_text()) if path.is_file() else None
