"""Procedural people: the bundled model's training set and the ground truth for disentanglement.

The paper (Sec. 3) factors a person image into foreground (appearance), background and pose.
Real datasets only show each person once per photo, so whether a model has separated the
three can only be checked indirectly. Here every image is ``render(appearance, background,
pose)`` of three independent factors, each a pure function of its own integer seed
(``sample_appearance``, ``sample_background``, ``sample_pose``), so the image of every swap
exists exactly:

* changing the background leaves every pixel inside the person mask unchanged;
* changing the appearance leaves every pixel outside both persons' masks unchanged;
* the keypoints depend on the pose alone (the build widens the flesh, never moves a joint).

The pose may also be real: ``pose_from_keypoints`` lifts any COCO-18 keypoints (such as the
Market-1501 training annotations, ``load_poses``) so the model sees the real pose
distribution. The modules behind this one: ``pose`` (skeleton and real poses),
``appearance`` (identities), ``body`` (drawing the parts as labels), ``colour`` (palette,
patterns, shading, the binary mask), ``scene`` (backgrounds and their lighting) and
``seeds`` (every seed: the splits' seed ranges, ``factor_seed``, and the per-factor draws).

Settings: ``style="market"`` at 128x64 (pedestrians in street scenes, the paper's Market-1501
setting) and ``style="studio"`` at 256x256 (the DeepFashion setting: light studio walls,
front-heavy standing poses, full-body to upper-body framings).

Splits: every factor seed of split ``s`` lies in ``[s * 2**40, (s + 1) * 2**40)``, so the
``train``, ``val`` and ``test`` splits never share an appearance, background or pose seed.
Seeds within a split come from hashing ``(seed, factor, index)``. Real poses are rows of the
pose table given to the split (use the Market train CSV for training and the test CSV for
held-out data; then they are disjoint too).

``SyntheticPeople`` is a map-style ``torch.utils.data.Dataset`` whose items are pure
functions of their index: any non-negative index is valid (``len`` is only the epoch length
a sampler uses; ``CountingSampler`` walks the indices forever), and no worker holds random
state, so any number of DataLoader workers yield the same items.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw

from dpg.data.annotations import read_annotation_csv
from dpg.errors import UserError
from dpg.synthetic.appearance import Appearance, sample_appearance
from dpg.synthetic.colour import draw_person
from dpg.synthetic.pose import Pose, pose_from_keypoints, sample_pose
from dpg.synthetic.scene import Background, render_background, sample_background
from dpg.synthetic.seeds import FACTORS, SPLITS, factor_seed

__all__ = [
    "Appearance",
    "Background",
    "Pose",
    "Rendering",
    "SyntheticPeople",
    "CountingSampler",
    "sample_appearance",
    "sample_background",
    "sample_pose",
    "pose_from_keypoints",
    "render",
    "factor_seed",
    "load_poses",
    "preview_grid",
    "SPLITS",
    "STYLE_SIZES",
]

STYLE_SIZES = {"market": (128, 64), "studio": (256, 256)}


@dataclass(frozen=True, eq=False)
class Rendering:
    """One rendered person: ``image`` uint8 ``[H, W, 3]``, ``keypoints`` float32 ``[18, 3]``
    ``(x, y, v)``, person ``mask`` bool ``[H, W]`` (body, clothes and bag), and the
    ``identity`` and ``camera`` labels."""

    image: np.ndarray
    keypoints: np.ndarray
    mask: np.ndarray
    identity: int
    camera: int


def render(appearance: Appearance, background: Background, pose: Pose) -> Rendering:
    """The image of ``appearance`` in ``pose`` over ``background``, at ``pose.size``.

    The person is composited over the background with its binary mask, so person pixels
    depend on (appearance, pose) only and the others on (background, pose) only.
    """
    person, mask = draw_person(appearance, pose)
    image = render_background(background, pose.size)
    cv2.copyTo(person, mask.view(np.uint8), image)  # in place: the person over the scene
    return Rendering(image, pose.keypoints(), mask, appearance.identity, background.camera)


def load_poses(csv_path: str | os.PathLike, size: tuple[int, int] | None = None, min_joints: int = 6) -> np.ndarray:
    """Real poses from a community annotation CSV: float32 ``[P, 18, 3]``, keeping the rows
    with at least ``min_joints`` of the 14 body joints (neck to ankles) present. With
    ``size`` (``(height, width)``), a coordinate outside the image is a ``UserError``; so is
    a file with no such row (nothing to pose people with)."""

    _, keypoints = read_annotation_csv(csv_path, image_size=size)
    keep = (keypoints[:, :14, 2] > 0.5).sum(1) >= min_joints
    if not keep.any():
        raise UserError(f"{csv_path}: no row has {min_joints} or more body joints; nothing to pose people with")
    return keypoints[keep]


class SyntheticPeople(torch.utils.data.Dataset):
    """Unbounded procedural people as a map-style dataset (module docstring).

    Args:
        length: the epoch length ``len()`` reports; every index >= 0 is valid.
        split: ``"train"``, ``"val"`` or ``"test"``: disjoint factor seeds.
        style: ``"market"`` (default size 128x64) or ``"studio"`` (256x256).
        size: ``(height, width)``; defaults to the style's.
        identities: if given, item ``i`` shows identity ``i % identities`` (a fixed cast of
            people, as a re-ID set has); otherwise every item is a new identity ``i``.
        poses: optional real keypoints float ``[P, 18, 3]`` in pixels of ``size``; item ``i``
            then takes row ``pose_seed % P`` and reports that row as its pose seed.
        seed: base seed; different values give different unbounded streams.

    Items are dicts: ``image`` float32 ``[3, H, W]`` in [-1, 1], ``keypoints`` float32
    ``[18, 3]``, ``mask`` float32 ``[H, W]`` in {0, 1}, ``identity``, ``camera`` and the
    three seeds ``appearance_seed``, ``background_seed``, ``pose_seed`` (ints).
    """

    def __init__(
        self,
        length: int = 100_000,
        *,
        split: str = "train",
        style: str = "market",
        size: tuple[int, int] | None = None,
        identities: int | None = None,
        poses: np.ndarray | None = None,
        seed: int = 0,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if style not in STYLE_SIZES:
            raise ValueError(f"style must be one of {tuple(STYLE_SIZES)}, got {style!r}")
        if identities is not None and identities < 1:
            raise ValueError(f"identities must be positive, got {identities}")
        self.length, self.split, self.style, self.seed = int(length), split, style, int(seed)
        self.size = tuple(size) if size is not None else STYLE_SIZES[style]
        self.identities = identities
        self.poses = None if poses is None else np.asarray(poses, np.float32)
        if self.poses is not None and (self.poses.shape[1:] != (18, 3) or not len(self.poses)):
            raise ValueError(f"poses must be a non-empty [P, 18, 3] array, got {list(self.poses.shape)}")

    def __len__(self) -> int:
        return self.length

    def factors(self, index: int) -> tuple[Appearance, Background, Pose]:
        """The three factors of item ``index``."""
        if index < 0:
            raise IndexError(f"index must be non-negative, got {index}")
        identity = index if self.identities is None else index % self.identities
        appearance = sample_appearance(factor_seed(self.split, "appearance", identity, self.seed), identity)
        background = sample_background(factor_seed(self.split, "background", index, self.seed), self.style)
        pose_seed = factor_seed(self.split, "pose", index, self.seed)
        if self.poses is None:
            pose = sample_pose(pose_seed, self.size, self.style)
        else:
            row = pose_seed % len(self.poses)
            pose = pose_from_keypoints(self.poses[row], self.size, seed=row)
        return appearance, background, pose

    def render(self, index: int) -> Rendering:
        """Item ``index`` at the API edge (uint8 image, numpy arrays)."""
        return render(*self.factors(index))

    def __getitem__(self, index: int) -> dict:
        appearance, background, pose = self.factors(int(index))
        out = render(appearance, background, pose)
        image = torch.from_numpy(out.image).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
        return {
            "image": image,
            "keypoints": torch.from_numpy(out.keypoints),
            "mask": torch.from_numpy(out.mask.astype(np.float32)),
            "identity": out.identity,
            "camera": out.camera,
            "appearance_seed": appearance.seed,
            "background_seed": background.seed,
            "pose_seed": pose.seed,
        }


class CountingSampler(torch.utils.data.Sampler):
    """Indices ``start, start + 1, ...`` forever: an endless stream of fresh items from a
    ``SyntheticPeople`` (``DataLoader(ds, batch_size=B, sampler=CountingSampler())``)."""

    def __init__(self, start: int = 0):
        self.start = int(start)

    def __iter__(self):
        return itertools.count(self.start)


def preview_grid(columns: int = 8, seed: int = 3, poses: np.ndarray | None = None) -> np.ndarray:
    """A README figure, uint8 ``[H, W, 3]``: rows of 128x64 people that vary one factor at a
    time (appearance, background, procedural pose, real pose when ``poses`` [P, 18, 3] is
    given) around the factors of ``seed`` (3: a front view), then a row of 256x256 studio
    people shown at 128x128. Seeds come from the ``val`` split."""

    a0, b0, p0 = (factor_seed("val", f, seed) for f in FACTORS)
    size = STYLE_SIZES["market"]
    app, bg, pose = sample_appearance(a0), sample_background(b0), sample_pose(p0, size)
    others = [{f: factor_seed("val", f, seed + 1 + i) for f in FACTORS} for i in range(columns)]
    rows = [
        ("appearance", [render(sample_appearance(o["appearance"]), bg, pose) for o in others]),
        ("background", [render(app, sample_background(o["background"]), pose) for o in others]),
        ("pose", [render(app, bg, sample_pose(o["pose"], size)) for o in others]),
    ]
    if poses is not None:
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(poses), columns, replace=False)
        rows.append(("real pose", [render(app, bg, pose_from_keypoints(poses[k], size, seed=int(k))) for k in picks]))
    studio = []
    for i in range(columns // 2):
        a, b, p = (factor_seed("val", f, seed + 100 + i) for f in FACTORS)
        out = render(sample_appearance(a), sample_background(b, "studio"), sample_pose(p, (256, 256), "studio"))
        studio.append(np.asarray(Image.fromarray(out.image).resize((128, 128), Image.BILINEAR)))
    margin, h, w = 84, size[0], size[1]
    grid = np.full((h * (len(rows) + 1), margin + w * columns, 3), 255, np.uint8)
    for r, (_, images) in enumerate(rows):
        for c, out in enumerate(images):
            grid[r * h : (r + 1) * h, margin + c * w : margin + (c + 1) * w] = out.image
    for c, image in enumerate(studio):
        grid[len(rows) * h :, margin + c * 128 : margin + (c + 1) * 128] = image
    canvas = Image.fromarray(grid)
    draw = ImageDraw.Draw(canvas)
    for r, name in enumerate([name for name, _ in rows] + ["studio 256px"]):
        draw.text((6, r * h + h // 2 - 6), name, fill=(0, 0, 0))
    return np.asarray(canvas)
