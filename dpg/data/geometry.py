"""The pose geometry a stage-I batch needs, computed from keypoints alone.

Every data source (the procedural renderer, Market-1501, DeepFashion, a user's photo) ends
in the same three tensors besides the image: the coarse pose mask that splits foreground
from background features, and the 7 body ROIs with their visibilities.
"""

from __future__ import annotations

import numpy as np
import torch

from dpg.keypoints import body_rois, body_rois_deepfashion, mask_radius, pose_mask


def person_geometry(keypoints: np.ndarray, height: int, width: int, radius: int | None = None, dataset: str = "market") -> dict:
    """Keypoints ``[18, 3]`` -> ``mask [1, H, W]`` float in {0, 1}, ``rois [7, 4]``, ``roi_vis [7]``.

    ``dataset`` (``ModelConfig.dataset``) picks the ROI rule: DeepFashion's for ``deepfashion``,
    Market-1501's otherwise (the reference's two converters).
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    radius = mask_radius(height) if radius is None else radius
    mask = pose_mask(kp, height, width, radius)
    rois, vis = roi_rule(dataset)(kp, height, width)
    return {
        "mask": torch.from_numpy(mask[None].astype(np.float32)),
        "rois": torch.from_numpy(rois),
        "roi_vis": torch.from_numpy(vis),
    }


def roi_rule(dataset: str):
    """The body-ROI rule of a dataset (``ModelConfig.dataset``)."""
    if dataset not in ("market", "deepfashion"):
        raise ValueError(f"dataset must be 'market' or 'deepfashion', got {dataset!r}")
    return body_rois_deepfashion if dataset == "deepfashion" else body_rois


class WithGeometry(torch.utils.data.Dataset):
    """Adds ``person_geometry`` to the items of a dataset that yields ``image`` and
    ``keypoints``; an item's own ``mask`` (the renderer's exact person mask) is kept as
    ``person_mask``."""

    def __init__(self, dataset, height: int, width: int, radius: int | None = None, rule: str = "market"):
        self.dataset, self.height, self.width, self.radius, self.rule = dataset, height, width, radius, rule

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        if "mask" in item:
            item["person_mask"] = item.pop("mask")
        kp = item["keypoints"]
        kp = kp.numpy() if isinstance(kp, torch.Tensor) else kp
        item["keypoints"] = torch.as_tensor(kp, dtype=torch.float32)
        item.update(person_geometry(kp, self.height, self.width, self.radius, self.rule))
        return item
