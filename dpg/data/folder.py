"""A folder of person crops with a keypoint CSV, as a PyTorch dataset: the code Market-1501
and DeepFashion share (``dpg.data.market``, ``dpg.data.deepfashion``).

One item is one image with everything stage I of the paper (Sec. 3.1) needs besides the pose
map, which the model renders from the keypoints itself (``dpg.keypoints.pose_map``)::

    image     float [3, H, W] in [-1, 1]
    keypoints float [18, 3]   (x, y, v), missing joints (0, 0, 0)
    mask      float [1, H, W] coarse pose mask in {0, 1} (PG2 morphology, radius 7 / 8)
    rois      float [7, 4]    body ROIs (x0, y0, x1, y1) in pixels, BODY_PARTS order
    roi_vis   float [7]       1 where the ROI has a joint, else 0 (its box is all 0)
    name      str             the file name, as in the CSV
    identity  int             person (Market) or item-and-outfit (DeepFashion) id
    camera    int             Market camera 1..6, -1 where unknown
    flipped   bool            whether the left-right flip augmentation was applied

A pair item (``PairDataset``) holds the same keys twice, suffixed ``_a`` for the source (the
pairs CSV's ``from``) and ``_b`` for the target (``to``).

Policies, chosen once for both datasets:

* Missing images are found at construction: the folder is listed once and the CSV rows are
  checked against it. By default any missing file is an error naming the first few;
  ``missing="skip"`` keeps the rows whose image exists. A CSV that covers none of the folder's
  images is always an error saying so (the usual sign of a wrong folder or CSV).
* Images are never resized: the CSV's keypoints are pixel indices of the stored image, and
  resizing would have to know whether the image was scaled or cropped to its size. An image
  of another size than the dataset's is an error naming the file and both sizes.
* Flip augmentation mirrors image, keypoints, mask and ROIs together (``dpg.keypoints``'s flip
  helpers): the mask and ROIs are computed on the unflipped keypoints and then mirrored, so
  they stay pixel-aligned with the mirrored image.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from dpg import keypoints as K
from dpg.data.annotations import read_annotation_csv, read_pairs_csv
from dpg.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
# The joints a pair needs on both images (right/left shoulder, right/left hip), after
# Deformable GAN's and PATN's ``create_pairs_dataset.py``: without them the pose is too
# partial to transfer.
PAIR_REQUIRED_JOINTS = (2, 5, 8, 11)

# (name) -> (identity, camera)
NameParser = Callable[[str], tuple[int, int]]
# (keypoints [..., 18, 3], height, width) -> (boxes [..., 7, 4], vis [..., 7])
RoiRule = Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]]


def _examples(items: Sequence[str], count: int = 5) -> str:
    shown = ", ".join(items[:count])
    return shown + (f", ... ({len(items) - count} more)" if len(items) > count else "")


def list_images(image_dir: str) -> list[str]:
    """Sorted image file names in ``image_dir`` (not recursive); ``UserError`` if it is absent."""
    if not os.path.isdir(image_dir):
        raise UserError(f"image folder {image_dir} does not exist")
    with os.scandir(image_dir) as entries:
        return sorted(e.name for e in entries if e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file())


def check_coverage(names: Sequence[str], image_dir: str, csv_path: str, missing: str = "error") -> np.ndarray:
    """Which CSV rows have an image in ``image_dir``: bool ``[len(names)]``.

    Raises ``UserError`` when the folder holds no image, when the CSV covers none of its
    images, or (``missing="error"``) when any named image is absent, listing the first few.
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    files = list_images(image_dir)
    if not files:
        raise UserError(f"image folder {image_dir} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
    file_set = set(files)
    present = np.array([n in file_set for n in names], dtype=bool)
    if len(names) and not present.any():
        raise UserError(
            f"{csv_path} covers none of the {len(files)} images in {image_dir} "
            f"(CSV names like {_examples(list(names), 2)}; folder files like {_examples(files, 2)}): "
            "wrong folder or wrong CSV?"
        )
    absent = [n for n, p in zip(names, present) if not p]
    if absent and missing == "error":
        raise UserError(
            f"{len(absent)} of the {len(names)} images named in {csv_path} are missing from {image_dir}: "
            f"{_examples(absent)} (missing='skip' uses only the images present)"
        )
    return present


def derive_pairs(
    names: Sequence[str],
    keypoints: np.ndarray,
    identities: Sequence[int],
    required_joints: Sequence[int] = PAIR_REQUIRED_JOINTS,
) -> list[tuple[str, str]]:
    """All ordered same-identity pairs ``(a, b)``, ``a != b``, whose two images both have every
    joint of ``required_joints`` present: the training pairs of the pose-transfer literature
    (Deformable GAN / PATN ``create_pairs_dataset.py``).

    Identities appear in first-seen order and images within one in CSV order, so the output
    matches those scripts row for row. Remove junk and distractor images before calling.
    """
    kp = np.asarray(keypoints)
    valid = (kp[:, list(required_joints), 2] > 0.5).all(axis=1)
    groups: dict[int, list[str]] = {}
    for name, ident, ok in zip(names, identities, valid):
        if ok:
            groups.setdefault(int(ident), []).append(name)
    return [(a, b) for group in groups.values() for a in group for b in group if a != b]


def pairs_for_split(
    images: PoseImageDataset, split: str, default_csv: str, pairs_csv: str | os.PathLike | None = None
) -> tuple[list[tuple[str, str]], str]:
    """The pairs of a split and where they came from: ``pairs_csv`` if given, else
    ``default_csv`` if it exists, else (train split only) ``derive_pairs`` over ``images``.
    The test pairs are fixed by the literature, so a missing test pairs file is an error."""
    path = os.fspath(pairs_csv) if pairs_csv is not None else default_csv
    if pairs_csv is not None or os.path.isfile(path):
        return read_pairs_csv(path), path
    if split == "train":
        pairs = derive_pairs(images.names, images.keypoints, images.identities)
        return pairs, f"pairs derived from {images.annotation_csv}"
    raise UserError(f"no pairs file {path}: the {split} pairs are fixed, they are not derived")


class PoseImageDataset(torch.utils.data.Dataset):
    """Images of one folder with their keypoints from an annotation CSV (see module doc).

    Args:
        image_dir: folder holding the images named in the CSV.
        annotation_csv: ``name:keypoints_y:keypoints_x`` file (``dpg.data.annotations``).
        image_size: ``(height, width)`` every image must have.
        parse_name: file name -> ``(identity, camera)``; may raise ``UserError``.
        roi_rule: keypoints -> body ROIs (``dpg.keypoints.body_rois`` or the DeepFashion rule).
        keep: optional filter on file names applied before the folder check (e.g. drop junk).
        mask_radius: pose-mask radius; ``None`` is ``dpg.keypoints.mask_radius(height)``.
        flip_prob: probability of the left-right flip per item (0 = never).
        missing: ``"error"`` or ``"skip"`` for CSV rows with no image (see module doc).
    """

    def __init__(
        self,
        image_dir: str | os.PathLike,
        annotation_csv: str | os.PathLike,
        image_size: tuple[int, int],
        parse_name: NameParser,
        roi_rule: RoiRule = K.body_rois,
        keep: Callable[[str], bool] | None = None,
        mask_radius: int | None = None,
        flip_prob: float = 0.0,
        missing: str = "error",
    ):
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}")
        self.image_dir = os.fspath(image_dir)
        self.annotation_csv = os.fspath(annotation_csv)
        self.height, self.width = image_size
        self.mask_radius = K.mask_radius(self.height) if mask_radius is None else int(mask_radius)
        self.flip_prob = float(flip_prob)
        names, kp = read_annotation_csv(self.annotation_csv, image_size)
        if keep is not None:
            rows = np.array([keep(n) for n in names], dtype=bool)
            names, kp = [n for n, k in zip(names, rows) if k], kp[rows]
        present = check_coverage(names, self.image_dir, self.annotation_csv, missing)
        self.num_missing = int((~present).sum())  # rows dropped under missing="skip"
        self.names: list[str] = [n for n, p in zip(names, present) if p]
        self.keypoints: np.ndarray = kp[present]  # [N, 18, 3]
        ids = [parse_name(n) for n in self.names]
        self.identities = np.array([i for i, _ in ids], dtype=np.int64)  # [N]
        self.cameras = np.array([c for _, c in ids], dtype=np.int64)  # [N]
        self.index = {n: i for i, n in enumerate(self.names)}
        # ROIs of all rows at once (vectorised, milliseconds); masks per item (see load()).
        self.rois, self.roi_vis = roi_rule(self.keypoints, self.height, self.width)  # [N, 7, 4], [N, 7]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} images of {self.height}x{self.width} in {self.image_dir}, "
            f"{len(np.unique(self.identities))} identities, flip_prob={self.flip_prob})"
        )

    def read_image(self, index: int) -> np.ndarray:
        """The stored image as uint8 ``[H, W, 3]`` RGB; ``UserError`` naming the file if it
        cannot be read or has the wrong size."""
        path = os.path.join(self.image_dir, self.names[index])
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
        except FileNotFoundError:
            raise UserError(f"image {path} is missing (it was there when the dataset was built)") from None
        except OSError as err:
            raise UserError(f"cannot read image {path}: {err}") from None
        if img.size != (self.width, self.height):
            raise UserError(
                f"image {path} is {img.height}x{img.width}, expected {self.height}x{self.width}: "
                "images are not resized, as the keypoints are pixels of the stored image"
            )
        return np.array(img)  # a writable copy, so torch.from_numpy shares it safely

    def load(self, index: int, flip: bool = False) -> dict:
        """Item ``index`` (see module doc), mirrored left-right if ``flip``."""
        kp = self.keypoints[index]
        pixels = self.read_image(index)  # [H, W, 3] uint8
        mask = K.pose_mask(kp, self.height, self.width, self.mask_radius)  # [H, W] bool
        rois, vis = self.rois[index], self.roi_vis[index]
        if flip:
            # Mirror the mask rather than recompute it from mirrored keypoints: its limb
            # samples are truncated to integer pixels, which is not symmetric under x -> W-1-x.
            pixels, mask = K.flip_image(pixels), K.flip_image(mask)
            kp = K.flip_keypoints(kp, self.width)
            rois, vis = K.flip_rois(rois, vis, self.width)
        # uint8 [H, W, 3] -> float [3, H, W] in [-1, 1]
        image = torch.from_numpy(pixels).permute(2, 0, 1).contiguous().float().div_(127.5).sub_(1.0)
        return {
            "image": image,
            "keypoints": torch.from_numpy(np.array(kp, dtype=np.float32)),
            "mask": torch.from_numpy(mask)[None].float(),  # [1, H, W]
            "rois": torch.from_numpy(np.array(rois, dtype=np.float32)),
            "roi_vis": torch.from_numpy(np.array(vis, dtype=np.float32)),
            "name": self.names[index],
            "identity": int(self.identities[index]),
            "camera": int(self.cameras[index]),
            "flipped": bool(flip),
        }

    def draw_flip(self) -> bool:
        """One coin of the flip augmentation, from torch's generator so that DataLoader
        workers (seeded per worker by PyTorch) draw different, reproducible coins."""
        return self.flip_prob > 0 and bool(torch.rand(()) < self.flip_prob)

    def __getitem__(self, index: int) -> dict:
        return self.load(index, self.draw_flip())


class PairDataset(torch.utils.data.Dataset):
    """Ordered ``(source, target)`` pairs of a ``PoseImageDataset``'s images.

    Items hold both sides' keys suffixed ``_a`` (source, the CSV's ``from``) and ``_b``
    (target, ``to``). The flip augmentation draws one coin per pair and mirrors both sides
    together, so the pair keeps its relative geometry.

    Args:
        images: the dataset the pairs index into (its ``flip_prob`` is used).
        pairs: ``(source name, target name)`` tuples.
        source: where the pairs came from, for messages (a file name or "derived").
        missing: ``"error"`` or ``"skip"`` for pairs naming an image ``images`` lacks.
    """

    def __init__(
        self,
        images: PoseImageDataset,
        pairs: Sequence[tuple[str, str]],
        source: str = "pairs",
        missing: str = "error",
    ):
        self.images = images
        self.source = source
        index = images.index
        unknown = sorted({n for p in pairs for n in p if n not in index})
        if unknown and missing == "error":
            raise UserError(
                f"{len(unknown)} images named in {source} are not in the dataset "
                f"({images.annotation_csv}, {images.image_dir}): {_examples(unknown)} "
                "(missing='skip' drops those pairs)"
            )
        kept = [(a, b) for a, b in pairs if a in index and b in index]
        if pairs and not kept:
            raise UserError(f"{source} covers none of the images of {images.image_dir}")
        self.pairs: list[tuple[str, str]] = kept
        self.pair_index = np.array([(index[a], index[b]) for a, b in kept], dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} pairs from {self.source} over {self.images!r})"

    def load(self, index: int, flip: bool = False) -> dict:
        """Pair ``index``: both items' keys with ``_a`` / ``_b`` suffixes."""
        ia, ib = self.pair_index[index]
        item = {f"{k}_a": v for k, v in self.images.load(int(ia), flip).items()}
        item.update({f"{k}_b": v for k, v in self.images.load(int(ib), flip).items()})
        return item

    def __getitem__(self, index: int) -> dict:
        return self.load(index, self.images.draw_flip())
