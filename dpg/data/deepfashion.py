"""DeepFashion In-shop Clothes Retrieval (Liu et al., CVPR 2016) at 256x256, with the pose-transfer
community's keypoints and pairs: the paper's second dataset (Sec. 4).

Layout under ``root`` (Deformable GAN's ``fasion-dataset``; every path can be given explicitly)::

    train/  test/                                   256x256 images
    fasion-annotation-train.csv  fasion-annotation-test.csv   (4,061 test rows)
    fasion-pairs-train.csv       fasion-pairs-test.csv        (8,670 test pairs)

File names flatten the archive's path ``img/WOMEN/Dresses/id_00005537/05_4_full.jpg`` into
``fasionWOMENDressesid0000553705_4full.jpg``: gender, category, ``id`` + the 8-digit item id,
the 2-digit outfit number (one photo session of the item), ``_``, the view (``1front``,
``2side``, ``3back``, ``4full``, ``6flat``, ``7additional``).

Identity rule: one identity is one item *and* outfit (``id0000553705`` -> 553705 =
item * 100 + outfit). It is the unit Deformable GAN split train/test on (its
``split_fasion_dataset.py`` held out 1,000 such ids; the test CSV has exactly 1,000, from 934
item ids), and the unit its pairs, reused by PATN, are drawn within: the shoulders-and-hips
pair rule over these identities reproduces the 8,670 published test pairs exactly. The rule
is read with a regular expression rather than as "the text before the first ``_``" (which
gives the same answer on the ``fasion`` names), so that GFLA-style names, whose categories
keep their underscore (``fashionWOMENBlouses_Shirtsid...``), get the same identity. There is
no camera (``camera`` is -1).
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from dpg import keypoints as K
from dpg.data.folder import PairDataset, PoseImageDataset, pairs_for_split
from dpg.errors import UserError

DEEPFASHION_SIZE = (256, 256)  # (height, width)
SPLITS = ("train", "test")

_NAME = re.compile(r"^fash?ion(MEN|WOMEN)(.+?)id(\d{8})(\d{2})_(\d)([A-Za-z]+)\.(?:jpg|jpeg|png)$")


class DeepFashionName(NamedTuple):
    """The fields of a flattened DeepFashion In-shop file name."""

    gender: str  # "MEN" or "WOMEN"
    category: str  # e.g. "Dresses", "TeesTanks" (GFLA names: "Tees_Tanks")
    item: int  # the 8-digit item id
    outfit: int  # the 2-digit photo-session number within the item
    view: str  # "front", "side", "back", "full", "flat", "additional"

    @property
    def identity(self) -> int:
        """item * 100 + outfit: ``id0000553705`` -> 553705 (module doc)."""
        return self.item * 100 + self.outfit


def parse_deepfashion_name(name: str) -> DeepFashionName:
    """``"fasionWOMENDressesid0000553705_4full.jpg"`` -> ``("WOMEN", "Dresses", 5537, 5, "full")``;
    ``UserError`` if the name does not have that form."""
    match = _NAME.match(os.path.basename(name))
    if match is None:
        raise UserError(f"{name!r} is not a DeepFashion pose-transfer file name (fasion<MEN|WOMEN><Category>id<8+2 digits>_<view>.jpg)")
    gender, category, item, outfit, _, view = match.groups()
    return DeepFashionName(gender, category, int(item), int(outfit), view)


def deepfashion_identity(name: str) -> tuple[int, int]:
    """``(identity, camera)`` of a DeepFashion name: item * 100 + outfit, and -1 (no camera)."""
    return parse_deepfashion_name(name).identity, -1


def _split_paths(root: str, split: str) -> tuple[str, str]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return os.path.join(root, split), os.path.join(root, f"fasion-annotation-{split}.csv")


class DeepFashionDataset(PoseImageDataset):
    """One DeepFashion split as single images (items: ``dpg.data.folder``), 256x256, pose mask
    radius 8 and the DeepFashion ROI rule (``dpg.keypoints.body_rois_deepfashion``).

    Args: as ``MarketDataset``'s (``root``, ``split``, ``image_dir``, ``annotation_csv``,
    ``flip_prob``, ``missing``).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        image_dir: str | os.PathLike | None = None,
        annotation_csv: str | os.PathLike | None = None,
        flip_prob: float = 0.0,
        missing: str = "error",
    ):
        default_dir, default_csv = _split_paths(os.fspath(root), split)
        self.split = split
        super().__init__(
            image_dir if image_dir is not None else default_dir,
            annotation_csv if annotation_csv is not None else default_csv,
            DEEPFASHION_SIZE,
            deepfashion_identity,
            roi_rule=K.body_rois_deepfashion,
            flip_prob=flip_prob,
            missing=missing,
        )


class DeepFashionPairDataset(PairDataset):
    """Ordered (source, target) pairs of one DeepFashion split (items: ``_a`` / ``_b`` keys).

    Pairs come from ``pairs_csv`` (default ``root/fasion-pairs-{split}.csv``); for the train
    split without that file they are derived like Market's (same identity, shoulders and hips
    present on both images). Other arguments are ``DeepFashionDataset``'s.
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
        images = DeepFashionDataset(root, split, image_dir=image_dir, annotation_csv=annotation_csv, flip_prob=flip_prob, missing=missing)
        default = os.path.join(root, f"fasion-pairs-{split}.csv")
        pairs, source = pairs_for_split(images, split, default, pairs_csv)
        super().__init__(images, pairs, source=source, missing=missing)
