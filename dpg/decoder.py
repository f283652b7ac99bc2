"""Stage-I decoder: the "U-Net" that composes appearance embeddings and a pose map into an
image (section 3.1 "Pose branch", Fig. 10c; reference ``GeneratorCNN_ID_UAEAfterResidual``).

Input: the foreground and background embeddings "tiled into 128x64x352 appearance feature
maps" and concatenated with the 18-channel pose map. N residual blocks go down (stride-2
convolutions between them), a fully connected bottleneck of ``bottleneck_dim`` dims, then N
blocks come up, each concatenating the mirrored encoder feature (skip), a residual block over
the concatenation, and a nearest x2 upsampling with a 1x1 convolution. Linear output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dpg.nn import ConvResBlock


class TiledInputConv(nn.Module):
    """The first 3x3 convolution over ``concat(tile(embedding), pose_map)``, computed exactly
    without materialising the tile.

    A spatially constant input ``e`` convolved with weights ``W_e`` gives, at each pixel, the
    sum of ``W_e[:, :, k, l] @ e`` over the taps ``(k, l)`` that fall inside the image (the
    zero padding removes the others at the borders). So we compute the 9 per-tap projections
    ``[N, C, 9]`` once and spread them with a fixed ``[9, H*W]`` tap-validity matrix: the same
    numbers as the literal tiling (a test checks it) at a fraction of the cost, since the
    embedding has 352 channels and the pose map only 18.
    """

    def __init__(self, emb_dim: int, pose_channels: int, out_channels: int, size: tuple[int, int]):
        super().__init__()
        self.emb_dim = emb_dim
        self.conv = nn.Conv2d(emb_dim + pose_channels, out_channels, 3, padding=1)
        h, w = size
        ys, xs = torch.arange(h), torch.arange(w)
        off = torch.arange(3) - 1
        vy = ((ys[None, :] + off[:, None]) >= 0) & ((ys[None, :] + off[:, None]) < h)  # [3, H]
        vx = ((xs[None, :] + off[:, None]) >= 0) & ((xs[None, :] + off[:, None]) < w)  # [3, W]
        valid = vy[:, None, :, None] & vx[None, :, None, :]  # [3, 3, H, W]
        self.register_buffer("valid", valid.reshape(9, h * w).float(), persistent=False)

    def forward(self, emb: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        w_e, w_p = self.conv.weight[:, : self.emb_dim], self.conv.weight[:, self.emb_dim :]
        out = F.conv2d(pose, w_p, self.conv.bias, padding=1)  # [N, C, H, W]
        taps = torch.einsum("ockl,nc->nokl", w_e, emb).flatten(2)  # [N, C, 9]
        return out + (taps @ self.valid.to(taps.dtype)).view_as(out)


class UNetDecoder(nn.Module):
    """``(embedding [N, E], pose_map [N, 18, H, W]) -> image [N, 3, H, W]`` (linear output)."""

    def __init__(self, emb_dim: int, channels: int, blocks: int, size: tuple[int, int], bottleneck_dim: int):
        super().__init__()
        c, n = channels, blocks
        self.inp = TiledInputConv(emb_dim, 18, c, size)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        h, w = size
        for i in range(n):
            self.down.append(ConvResBlock(c * (i + 1)))
            if i < n - 1:
                self.downsample.append(nn.Conv2d(c * (i + 1), c * (i + 2), 3, stride=2, padding=1))
                h, w = h // 2, w // 2
        self.bottom = (c, h, w)
        self.to_z = nn.Linear(c * n * h * w, bottleneck_dim)  # the bottleneck: no ReLU
        self.from_z = nn.Linear(bottleneck_dim, c * h * w)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        x_ch = c
        for idx in range(n):
            cat = x_ch + c * (n - idx)  # concat with the mirrored encoder feature
            self.up.append(ConvResBlock(cat))
            if idx < n - 1:
                x_ch = c * (n - idx - 1)
                self.upsample.append(nn.Conv2d(cat, x_ch, 1))
            else:
                self.out = nn.Conv2d(cat, 3, 3, padding=1)

    def forward(self, emb: torch.Tensor, pose_map: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.inp(emb, pose_map))
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            skips.append(x)
            if i < len(self.downsample):
                x = torch.relu(self.downsample[i](x))
        x = self.from_z(self.to_z(x.flatten(1))).view(-1, *self.bottom)  # [N, C, h, w]
        for idx, block in enumerate(self.up):
            x = block(torch.cat([x, skips[-1 - idx]], 1))
            if idx < len(self.upsample):
                x = torch.relu(self.upsample[idx](F.interpolate(x, scale_factor=2.0, mode="nearest")))
        return self.out(x)
