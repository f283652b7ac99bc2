"""Market-1501 (Zheng et al., ICCV 2015) with the pose-transfer community's keypoints and pairs:
the paper's 128x64 dataset (Sec. 4).

Layout under ``root`` (the original archive plus the community CSVs; every path can be given
explicitly instead)::

    bounding_box_train/  12,936 crops (751 ids)     market-annotation-train.csv
    bounding_box_test/   19,732 crops (750 ids,     market-annotation-test.csv
                         junk and distractors)      market-pairs-test.csv (12,000 pairs)
                                                    market-pairs-train.csv (optional)

``train/`` and ``test/`` (Deformable GAN's and PATN's folder names) are used where the
``bounding_box_*`` folders are absent.

File names are ``PPPP_cCsS_FFFFFF_BB.jpg``: person id, camera, sequence, frame, box. Person
``-1`` marks junk detections and ``0000`` distractors (bodies of no identity, or background).
The community test CSV names 18 files ``*.jpg.jpg``, as in the distributed archive; the parser
accepts the doubled extension.

Splits, as the reference code ran them (``shared/reference/original-implementation.md`` 1.11):

* ``train``: every ``bounding_box_train`` image (no junk, no distractors there).
* ``test``: ``bounding_box_test`` without junk and distractors (the authors'
  ``sorted(bounding_box_test)[6617:]``): 13,115 images of 750 ids. ``include_junk`` and
  ``include_distractors`` keep them, e.g. to build a re-ID gallery.

Re-ID evaluation (the Market protocol) is ``reid_gallery_mask``: junk is ignored,
distractors stay as wrong matches, and gallery images of the query's id seen by the query's
camera are excluded.

Train pairs: ``market-pairs-train.csv`` if present, else derived with
``dpg.data.folder.derive_pairs`` (all ordered same-id pairs with both shoulders and both hips
present on both images, the PATN/Deformable GAN rule): 263,632 pairs from the community train
CSV. PG2's any-camera mode without the joint filter has 296,938 (its issue #43 log).
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

import numpy as np
from PIL import Image

from dpg import keypoints as K
from dpg.data.annotations import read_annotation_csv
from dpg.data.folder import PairDataset, PoseImageDataset, pairs_for_split
from dpg.errors import UserError

MARKET_SIZE = (128, 64)  # (height, width) of every Market-1501 crop
JUNK_ID = -1
DISTRACTOR_ID = 0
SPLITS = ("train", "test")

# The doubled extension occurs in the real file list (see module doc).
# Person ids of more than four digits occur in prepared folders (``dpg.data.prepare``).
_NAME = re.compile(r"^(-1|\d{4,})_c(\d)s(\d)_(\d{6})_(\d{2})(?:\.jpg)+$")


class MarketName(NamedTuple):
    """The fields of a Market-1501 file name."""

    person: int  # -1 junk, 0 distractor, else 1..1501
    camera: int  # 1..6
    sequence: int
    frame: int
    box: int


def parse_market_name(name: str) -> MarketName:
    """``"0002_c1s1_000451_03.jpg"`` -> ``MarketName(2, 1, 1, 451, 3)``; ``UserError`` if the
    name is not a Market-1501 file name."""
    match = _NAME.match(os.path.basename(name))
    if match is None:
        raise UserError(f"{name!r} is not a Market-1501 file name (PPPP_cCsS_FFFFFF_BB.jpg)")
    return MarketName(*(int(g) for g in match.groups()))


def market_identity(name: str) -> tuple[int, int]:
    """``(person id, camera)`` of a Market-1501 file name (the dataset's name parser)."""
    parsed = parse_market_name(name)
    return parsed.person, parsed.camera


def is_junk(name: str) -> bool:
    """A junk detection (person ``-1``): ignored by the re-ID protocol, never a pair."""
    return parse_market_name(name).person == JUNK_ID


def is_distractor(name: str) -> bool:
    """A distractor (person ``0000``): a wrong match in re-ID, never a pair."""
    return parse_market_name(name).person == DISTRACTOR_ID


def reid_gallery_mask(query_id: int, query_camera: int, gallery_ids: np.ndarray, gallery_cameras: np.ndarray) -> np.ndarray:
    """The Market-1501 protocol's gallery for one query: bool ``[G]``, True where a gallery
    image takes part in the ranking.

    Junk (id -1) is ignored, and so are images of the query's id taken by the query's camera
    (they would make the match trivial); distractors (id 0) stay in as wrong matches. The
    true matches among the kept entries are ``gallery_ids == query_id``.
    """
    ids, cams = np.asarray(gallery_ids), np.asarray(gallery_cameras)
    junk = ids == JUNK_ID
    same_view = (ids == query_id) & (cams == query_camera)
    return ~(junk | same_view)


def _split_paths(root: str, split: str) -> tuple[str, str]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    image_dir = os.path.join(root, f"bounding_box_{split}")
    if not os.path.isdir(image_dir) and os.path.isdir(os.path.join(root, split)):
        image_dir = os.path.join(root, split)
    return image_dir, os.path.join(root, f"market-annotation-{split}.csv")


class MarketDataset(PoseImageDataset):
    """One Market-1501 split as a dataset of single images (items: ``dpg.data.folder``).

    Args:
        root: the folder of the layout in the module doc.
        split: ``"train"`` or ``"test"``.
        image_dir, annotation_csv: override the paths derived from ``root``.
        include_junk, include_distractors: keep ids -1 / 0000 (dropped by default).
        size: ``(height, width)`` of the images: Market-1501's 128x64, or a prepared
            folder's own (``dpg.data.prepare``, which writes this layout at any size).
        flip_prob: probability of the left-right flip augmentation.
        missing: ``"error"`` (default) or ``"skip"`` for CSV rows with no image file.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        image_dir: str | os.PathLike | None = None,
        annotation_csv: str | os.PathLike | None = None,
        include_junk: bool = False,
        include_distractors: bool = False,
        flip_prob: float = 0.0,
        missing: str = "error",
        size: tuple[int, int] = MARKET_SIZE,
    ):
        default_dir, default_csv = _split_paths(os.fspath(root), split)
        self.split = split

        def keep(name: str) -> bool:
            person = parse_market_name(name).person
            return (include_junk or person != JUNK_ID) and (include_distractors or person != DISTRACTOR_ID)

        super().__init__(
            image_dir if image_dir is not None else default_dir,
            annotation_csv if annotation_csv is not None else default_csv,
            tuple(size),
            market_identity,
            # margin 6 px, 10 for a lone joint (the Market call), at any size: a prepared folder's
            # people are whole pedestrians or passers-by, not DeepFashion's framings
            roi_rule=K.body_rois,
            keep=keep,
            flip_prob=flip_prob,
            missing=missing,
        )


class MarketPairDataset(PairDataset):
    """Ordered (source, target) pairs of one Market-1501 split (items: ``_a`` / ``_b`` keys).

    Pairs come from ``pairs_csv`` (default ``root/market-pairs-{split}.csv``); for the train
    split without that file they are derived from the annotation CSV (module doc). Junk and
    distractors never take part. Other arguments are ``MarketDataset``'s; ``missing="skip"``
    also drops pairs whose images are absent.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        pairs_csv: str | os.PathLike | None = None,
        image_dir: str | os.PathLike | None = None,
        annotation_csv: str | os.PathLike | None = None,
        flip_prob: float = 0.0,
        missing: str = "error",
    ):
        images = MarketDataset(root, split, image_dir=image_dir, annotation_csv=annotation_csv, flip_prob=flip_prob, missing=missing)
        default = os.path.join(root, f"market-pairs-{split}.csv")
        pairs, source = pairs_for_split(images, split, default, pairs_csv)
        super().__init__(images, pairs, source=source, missing=missing)


def read_split(root: str | os.PathLike, split: str, n: int | None = None, seed: int = 0):
    """A prepared folder's split as arrays, for benchmarks and fitting on real people:
    ``(names, images uint8 [N, H, W, 3], keypoints float32 [N, 18, 3], masks uint8 [N, H, W])``,
    all rows of the annotation CSV or ``n`` of them drawn with ``seed`` (kept in file order).
    The masks are ``dpg prepare``'s person masks (``masks/<name>.png``)."""

    root = os.fspath(root)
    names, kps = read_annotation_csv(os.path.join(root, f"market-annotation-{split}.csv"))
    order = np.arange(len(names))
    if n is not None and n < len(names):
        order = np.sort(np.random.default_rng(seed).choice(len(names), n, replace=False))
    names = [names[i] for i in order]
    folder = os.path.join(root, f"bounding_box_{split}")
    images = np.stack([np.asarray(Image.open(os.path.join(folder, nm)).convert("RGB")) for nm in names])
    masks = np.stack([np.asarray(Image.open(os.path.join(root, "masks", nm[:-4] + ".png"))) for nm in names])
    return names, images, np.asarray(kps)[order].astype(np.float32), masks
