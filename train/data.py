"""Data sources of the trainers: procedural people by default, a Market-1501 or DeepFashion
root with ``--data``, and pose sets for the pose auto-encoder and the pose mapping."""

from __future__ import annotations

import os

import numpy as np
import torch

from dpg import keypoints as K
from dpg.config import Config
from dpg.errors import UserError


def stage1_dataset(cfg: Config, root: str | None, split: str):
    """Items with ``image, keypoints, mask, rois, roi_vis`` at the model's size.

    ``split`` is ``train`` or ``val``; for a real root ``val`` is its test split. Flip
    augmentation (the paper's) applies to real training data; the renderer draws mirrored
    views itself.
    """
    m = cfg.model
    if root is None:
        from dpg.data.geometry import WithGeometry
        from dpg.data.synthetic import SyntheticPeople

        people = SyntheticPeople(split="train" if split == "train" else "val", height=m.height, width=m.width)
        return WithGeometry(people, m.height, m.width, m.mask_radius)
    if not os.path.isdir(root):
        raise UserError(f"--data {root} is not a folder: pass a Market-1501 or DeepFashion root")
    real = "train" if split == "train" else "test"
    flip = cfg.stage1.flip_prob if split == "train" else 0.0
    if (m.height, m.width) == (128, 64):
        from dpg.data.market import MarketDataset

        return MarketDataset(root, real, flip_prob=flip)
    if (m.height, m.width) == (256, 256):
        from dpg.data.deepfashion import DeepFashionDataset

        return DeepFashionDataset(root, real, flip_prob=flip)
    raise UserError(f"no real dataset has images of {m.height}x{m.width}; use --preset market or deepfashion")


def pose_keypoints(cfg: Config, csvs: list[str], procedural: int, split: str) -> torch.Tensor:
    """Poses ``[P, 18, 3]`` at the model's size: rows of annotation CSVs (rescaled if the CSV
    was annotated at another size is not attempted: sizes must match) plus ``procedural``
    poses from the renderer. Rows with no joint at all are dropped."""
    from dpg.data.annotations import read_annotation_csv

    m = cfg.model
    parts = []
    for path in csvs:
        _, kp = read_annotation_csv(path, (m.height, m.width))
        parts.append(kp)
    if procedural:
        from dpg.data.synthetic import sample_poses

        parts.append(sample_poses(procedural, m.height, m.width, split=split))
    if not parts:
        raise UserError("no poses: pass --keypoints CSV and/or --procedural N")
    kp = np.concatenate(parts).astype(np.float32)
    kp = kp[kp[..., 2].sum(-1) > 0]
    return torch.from_numpy(kp)


def flip_batch(batch: dict, width: int) -> dict:
    """The left-right mirror of a collated stage-I batch (images, masks, keypoints, ROIs)."""
    rois, vis = K.flip_rois(batch["rois"], batch["roi_vis"], width)
    return {
        **batch,
        "image": K.flip_image(batch["image"]),
        "mask": K.flip_image(batch["mask"]),
        "keypoints": K.flip_keypoints(batch["keypoints"], width),
        "rois": rois,
        "roi_vis": vis,
    }
