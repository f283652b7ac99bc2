"""Data sources of the trainers and of the evaluation: procedural people by default, a
Market-1501, DeepFashion or prepared (``dpg prepare``) root with ``--data``, and pose sets
for the pose auto-encoder and the pose mapping. (In the library, not in ``train/``: the
evaluation reads the same held-out people, and the library never imports its scripts.)"""

from __future__ import annotations

import os

import numpy as np
import torch

from dpg import keypoints as K
from dpg.config import Config
from dpg.data.deepfashion import DeepFashionDataset
from dpg.data.geometry import WithGeometry
from dpg.data.market import MarketDataset
from dpg.data.prepare import read_info
from dpg.errors import UserError
from dpg.synthetic.people import SyntheticPeople, factor_seed, load_poses, sample_pose
from dpg.synthetic.pose import LSHO, LWRI, RSHO, RWRI

UNBOUNDED = 2**40  # the renderer's epoch length: every index is a new person


class Interleave(torch.utils.data.Dataset):
    """Item ``i`` of ``datasets[i % k]`` at ``i // k``: an even mix of unbounded streams."""

    def __init__(self, *datasets):
        self.datasets = datasets

    def __len__(self) -> int:
        return UNBOUNDED

    def __getitem__(self, index: int):
        k = len(self.datasets)
        return self.datasets[index % k][index // k]


STAGE1_KEYS = ("image", "keypoints", "mask", "rois", "roi_vis", "identity", "camera")


class Mix(torch.utils.data.Dataset):
    """``main``'s items, then ``extra`` items ``0 .. extra_len - 1``: a finite epoch that the
    step sampler shuffles, so each batch holds ``extra`` people at their share on average.
    Items keep only the keys a stage-I step reads, which both sources have."""

    def __init__(self, main, extra, extra_len: int):
        self.main, self.extra, self.extra_len = main, extra, int(extra_len)

    def __len__(self) -> int:
        return len(self.main) + self.extra_len

    def __getitem__(self, index: int):
        n = len(self.main)
        item = self.main[index] if index < n else self.extra[index - n]
        return {k: item[k] for k in STAGE1_KEYS}


def raised_arm_poses(n: int, size: tuple[int, int], seed: int = 0, style: str = "market") -> np.ndarray:
    """``n`` procedural training poses ``[n, 18, 3]`` with a visible wrist above its own
    shoulder: the renderer's "raise" posture, which ``sample_pose`` draws for about 1.3% of
    its seeds, picked out of the seed stream in order (deterministic; ~0.3 ms a seed)."""

    pairs = [(RWRI, RSHO), (LWRI, LSHO)]
    out, s = [], 0
    while len(out) < n:
        kp = sample_pose(factor_seed("train", "pose", s, seed), size, style).keypoints()
        s += 1
        if s > 10_000 + 400 * n:  # the renderer's posture weights changed: say so, do not spin
            raise RuntimeError(f"only {len(out)} raised-arm poses in {s} procedural seeds")
        if any(kp[w, 2] > 0 and kp[w, 1] < kp[sh, 1] for w, sh in pairs):
            out.append(kp)
    return np.stack(out).astype(np.float32)


def stage1_dataset(cfg: Config, root: str | None, split: str, poses: str | None = None, raised_arms: bool = True):
    """Items with ``image, keypoints, mask, rois, roi_vis`` at the model's size.

    ``split`` is ``train`` or ``val``; for a real root ``val`` is its test split. Flip
    augmentation (the paper's) applies to real training data; the renderer draws mirrored
    views itself. With procedural people, ``poses`` (an annotation CSV of real poses at the
    model's size) makes half of the training people take real poses. With a real root,
    ``stage1.raised_arm_mix`` adds procedural people raising an arm to the training split
    (``Mix``); ``raised_arms=False`` leaves them out (stage II's mappings learn the photos'
    embeddings only).
    """
    m = cfg.model
    mix = cfg.stage1.raised_arm_mix
    if not 0 <= mix < 1:
        raise UserError(f"stage1.raised_arm_mix={mix}: give the share of raised-arm people, from 0 up to below 1 (e.g. 0.1)")
    if root is None:
        if mix and split == "train" and raised_arms:
            raise UserError(
                "stage1.raised_arm_mix mixes procedural people into the photos of --data; without --data every "
                "person is procedural already (and some raise an arm): leave it at 0 or pass --data"
            )
        style = m.style
        split = "train" if split == "train" else "val"
        people = SyntheticPeople(UNBOUNDED, split=split, style=style, size=(m.height, m.width), seed=cfg.run.seed)
        if poses and split == "train":
            real = SyntheticPeople(
                UNBOUNDED,
                split=split,
                style=style,
                size=(m.height, m.width),
                seed=cfg.run.seed + 1,
                poses=load_poses(poses, (m.height, m.width)),
            )
            people = Interleave(people, real)
        return WithGeometry(people, m.height, m.width, m.mask_radius, m.dataset)
    photos = _photos(cfg, root, split)
    if split != "train" or not mix or not raised_arms:
        return photos
    size = (m.height, m.width)
    people = SyntheticPeople(
        UNBOUNDED, split="train", style=m.style, size=size, seed=cfg.run.seed + 2, poses=raised_arm_poses(512, size, cfg.run.seed, m.style)
    )
    extra = round(len(photos) * mix / (1 - mix))  # mix of the whole epoch
    return Mix(photos, WithGeometry(people, m.height, m.width, m.mask_radius, m.dataset), extra)


def _photos(cfg: Config, root: str, split: str):
    """The photos of a prepared, Market-1501 or DeepFashion root (``stage1_dataset``)."""
    m = cfg.model
    if not os.path.isdir(root):
        raise UserError(f"--data {root} is not a folder: pass a Market-1501 or DeepFashion root")
    real = "train" if split == "train" else "test"
    flip = cfg.stage1.flip_prob if split == "train" else 0.0

    info = read_info(root)
    if info is not None:  # a folder of `dpg prepare`: Market-1501's layout at its own size
        size = tuple(info["size"])
        if size != (m.height, m.width):
            raise UserError(
                f"--data {root} was prepared at {size[0]}x{size[1]} but the preset's model is "
                f"{m.height}x{m.width}; prepare it with --size {m.height}x{m.width} or pick a preset of that size"
            )
        return MarketDataset(root, real, flip_prob=flip, size=size)
    if m.dataset == "deepfashion":
        if (m.height, m.width) != (256, 256):
            raise UserError(f"DeepFashion's images are 256x256, not the model's {m.height}x{m.width}: pick a preset of that size")
        return DeepFashionDataset(root, real, flip_prob=flip)

    if (m.height, m.width) != (128, 64):
        raise UserError(
            f"Market-1501's images are 128x64, not the model's {m.height}x{m.width}: pick a preset of that size, "
            "or prepare the photos at it (dpg prepare --size)"
        )
    return MarketDataset(root, real, flip_prob=flip)


def pose_keypoints(cfg: Config, csvs: list[str], procedural: int, split: str) -> torch.Tensor:
    """Poses ``[P, 18, 3]`` at the model's size: rows of annotation CSVs (rescaled if the CSV
    was annotated at another size is not attempted: sizes must match) plus ``procedural``
    poses from the renderer. A CSV row is kept when it is a person's pose by the rule the
    renderer, the virtual Market and the plausibility check share (``load_poses``: 6 or more
    of the 14 body joints). The 1.3% of Market's rows with fewer were learnt by the pose
    mapping, which then drew 1.0% such poses: 20 of its 27 implausible visibility patterns in
    2,000 samples. Rows with no joint at all are dropped."""

    m = cfg.model
    parts = []
    for path in csvs:
        parts.append(load_poses(path, (m.height, m.width)))
    if procedural:
        parts.append(procedural_poses(procedural, (m.height, m.width), split, cfg.run.seed, m.style))
    if not parts:
        raise UserError("no poses: pass --keypoints CSV and/or --procedural N")
    kp = np.concatenate(parts).astype(np.float32)
    kp = kp[kp[..., 2].sum(-1) > 0]
    return torch.from_numpy(kp)


def procedural_poses(n: int, size: tuple[int, int], split: str = "train", seed: int = 0, style: str = "market") -> np.ndarray:
    """``n`` poses ``[n, 18, 3]`` of the renderer's pose sampler (``style``: ``ModelConfig.style``),
    from ``split``'s seeds."""

    return np.stack([sample_pose(factor_seed(split, "pose", i, seed), size, style).keypoints() for i in range(n)])


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
