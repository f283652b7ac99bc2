"""The pose geometry a stage-I batch needs, computed from keypoints alone.

Every data source (the procedural renderer, Market-1501, DeepFashion, a user's photo) ends
in the same three tensors besides the image: the coarse pose mask that splits foreground
from background features, and the 7 body ROIs with their visibilities.
"""

from __future__ import annotations

import numpy as np
import torch

from dpg.keypoints import body_rois, body_rois_deepfashion, mask_radius, pose_mask


def person_geometry(keypoints: np.ndarray, height: int, width: int, radius: int | None = None) -> dict:
    """Keypoints ``[18, 3]`` -> ``mask [1, H, W]`` float in {0, 1}, ``rois [7, 4]``, ``roi_vis [7]``.

    256x256 images use the DeepFashion ROI rule, smaller ones the Market rule (the reference's
    two converters).
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    radius = mask_radius(height) if radius is None else radius
    mask = pose_mask(kp, height, width, radius)
    rois, vis = (body_rois_deepfashion if height >= 256 else body_rois)(kp, height, width)
    return {
        "mask": torch.from_numpy(mask[None].astype(np.float32)),
        "rois": torch.from_numpy(rois),
        "roi_vis": torch.from_numpy(vis),
    }


class WithGeometry(torch.utils.data.Dataset):
    """Adds ``person_geometry`` to the items of a dataset that yields ``image`` and
    ``keypoints``; an item's own ``mask`` (the renderer's exact person mask) is kept as
    ``person_mask``."""

    def __init__(self, dataset, height: int, width: int, radius: int | None = None):
        self.dataset, self.height, self.width, self.radius = dataset, height, width, radius

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        if "mask" in item:
            item["person_mask"] = item.pop("mask")
        kp = item["keypoints"]
        kp = kp.numpy() if isinstance(kp, torch.Tensor) else kp
        item["keypoints"] = torch.as_tensor(kp, dtype=torch.float32)
        item.update(person_geometry(kp, self.height, self.width, self.radius))
        return item
