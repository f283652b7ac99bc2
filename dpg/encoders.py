"""Stage-I foreground and background branches (section 3.1, Fig. 3 and 10a/b).

The input image goes through one convolutional residual block (``FeatureStem``); the coarse
pose mask then splits its feature map into a foreground and a background part. "We apply the
coarse pose mask to the feature maps instead of the input image directly ... to alleviate the
inaccuracies of the coarse pose mask."

* ``ForegroundEncoder``: crops the 7 body ROIs out of the masked feature map with
  ``torchvision.ops.roi_align``, resizes each to ``roi_size``^2, and encodes every crop with
  one weight-shared tower to ``part_dim`` dims; a part that is absent gets a zero embedding.
  The WholeBody variant crops one box around all joints and encodes it to ``7 * part_dim``.
* ``BackgroundEncoder``: the inverse-masked feature map through its own tower to ``bg_dim``.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align

from dpg.nn import ConvResBlock, EncoderTower


class FeatureStem(nn.Module):
    """conv3x3(3 -> C) + ReLU + one residual block at full resolution: ``[N,3,H,W] -> [N,C,H,W]``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.block = ConvResBlock(channels)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.block(torch.relu(self.conv(image)))


def whole_body_box(rois: torch.Tensor, roi_vis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The box around all present parts ``[N, 1, 4]`` and its visibility ``[N, 1]``.

    The reference's part 17 ("WholeBody = all 18 joints") is the union of the 7 part boxes
    up to their margins; taking the union keeps one source of truth for the geometry.
    """
    big = torch.finfo(rois.dtype).max
    present = roi_vis > 0.5  # [N, 7]
    lo = torch.where(present[..., None], rois[..., :2], torch.full_like(rois[..., :2], big)).amin(1)
    hi = torch.where(present[..., None], rois[..., 2:], torch.full_like(rois[..., 2:], -big)).amax(1)
    any_part = present.any(1, keepdim=True)
    box = torch.where(any_part, torch.cat([lo, hi], -1), torch.zeros_like(lo).repeat(1, 2))
    return box[:, None], any_part.float()


class ForegroundEncoder(nn.Module):
    """Masked feature map + body ROIs -> foreground embedding ``[N, num_parts * part_dim]``."""

    def __init__(self, channels: int, blocks: int, roi_size: int, part_dim: int, whole_body: bool = False):
        super().__init__()
        self.roi_size = roi_size
        self.whole_body = whole_body
        out = part_dim * 7 if whole_body else part_dim
        self.tower = EncoderTower(channels, blocks, (roi_size, roi_size), out)

    def forward(self, features: torch.Tensor, rois: torch.Tensor, roi_vis: torch.Tensor) -> torch.Tensor:
        """``features [N,C,H,W]`` (already masked), ``rois [N,7,4]`` (x0,y0,x1,y1) pixels, ``roi_vis [N,7]``."""
        if self.whole_body:
            rois, roi_vis = whole_body_box(rois, roi_vis)
        n, parts = rois.shape[:2]
        # Boxes are inclusive pixel ranges with pixel centres at integers; roi_align with
        # aligned=True treats pixel i as the interval [i, i + 1), hence the +1 on the far edge.
        boxes = rois.reshape(n * parts, 4).to(features.dtype) + features.new_tensor([0, 0, 1, 1])
        index = torch.arange(n, device=features.device, dtype=features.dtype).repeat_interleave(parts)
        crops = roi_align(features, torch.cat([index[:, None], boxes], 1), self.roi_size, 1.0, 2, aligned=True)
        emb = self.tower(crops).view(n, parts, -1)  # [N, parts, part_dim]
        return (emb * roi_vis[..., None].to(emb.dtype)).flatten(1)  # absent parts give zeros


class BackgroundEncoder(nn.Module):
    """Inverse-masked feature map ``[N,C,H,W]`` -> background embedding ``[N, bg_dim]``."""

    def __init__(self, channels: int, blocks: int, size: tuple[int, int], bg_dim: int):
        super().__init__()
        self.tower = EncoderTower(channels, blocks, size, bg_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.tower(features)
