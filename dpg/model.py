"""The composed model: stage I (encoders, decoder, pose auto-encoder) and stage II (one
mapping function per factor), as in Fig. 2 and Fig. 4 of the paper.

``encode`` takes an image and its pose geometry to the factors' real embeddings ``e``;
``decode`` composes any embeddings and any pose into an image; ``sample_*`` runs the
``z -> e~`` mappings. Everything that touches pixels or keypoint files lives at the edges
(``dpg.inference``); this module only sees tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dpg.config import Config
from dpg.decoder import UNetDecoder
from dpg.encoders import BackgroundEncoder, FeatureStem, ForegroundEncoder
from dpg.keypoints import keypoints_from_vector, pose_map, pose_vector
from dpg.mapping import EmbeddingCritic, build_mapping
from dpg.nn import assert_shape
from dpg.pose_ae import PoseAutoEncoder

FACTORS = ("fg", "bg", "pose")


@dataclass
class Factors:
    """A batch of people as factors: foreground ``[N, 224]``, background ``[N, 128]`` (None
    without a background branch) and pose as keypoints ``[N, 18, 3]``."""

    fg: torch.Tensor
    bg: torch.Tensor | None
    keypoints: torch.Tensor

    def __len__(self) -> int:
        return self.fg.shape[0]

    def __getitem__(self, idx) -> "Factors":
        """The people at ``idx`` (a slice, an index array or tensor): a batch again."""
        return Factors(self.fg[idx], None if self.bg is None else self.bg[idx], self.keypoints[idx])

    @staticmethod
    def cat(parts: "list[Factors]") -> "Factors":
        """Batches one after another (chunked encodes put back together)."""
        bg = None if parts[0].bg is None else torch.cat([p.bg for p in parts])
        return Factors(torch.cat([p.fg for p in parts]), bg, torch.cat([p.keypoints for p in parts]))


class ReconstructionNetwork(nn.Module):
    """Stage I's multi-branch image network (section 3.1): G1 of Eq. 1-2."""

    def __init__(self, cfg: Config):
        super().__init__()
        m = cfg.model
        self.cfg = m
        size = (m.height, m.width)
        self.stem = FeatureStem(m.channels)
        self.foreground = ForegroundEncoder(m.channels, m.encoder_blocks, m.roi_size, m.part_dim, whole_body=m.foreground == "whole_body")
        self.background = BackgroundEncoder(m.channels, m.encoder_blocks, size, m.bg_dim) if m.bg_dim else None
        self.decoder = UNetDecoder(m.fg_dim + m.bg_dim, m.channels, m.decoder_blocks, size, m.bottleneck_dim)

    def encode(self, image, mask, rois, roi_vis) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``image [N,3,H,W]`` in [-1,1], ``mask [N,1,H,W]`` in {0,1}, ``rois [N,7,4]``,
        ``roi_vis [N,7]`` -> ``(fg [N, 224], bg [N, bg_dim] or None)``."""
        n = image.shape[0]
        assert_shape(image, (n, 3, self.cfg.height, self.cfg.width))
        assert_shape(mask, (n, 1, self.cfg.height, self.cfg.width))
        feat = self.stem(image)
        fg = self.foreground(feat * mask, rois, roi_vis)
        bg = self.background(feat * (1 - mask)) if self.background is not None else None
        return fg, bg

    def pose_map(self, keypoints: torch.Tensor) -> torch.Tensor:
        m = self.cfg
        return pose_map(keypoints, m.height, m.width, m.pose_map_radius, m.pose_map_mode)

    def decode(self, fg, bg, keypoints) -> torch.Tensor:
        """Embeddings and keypoints ``[N,18,3]`` -> image ``[N,3,H,W]`` (linear; about [-1,1])."""
        emb = fg if bg is None else torch.cat([fg, bg], 1)
        return self.decoder(emb, self.pose_map(keypoints).to(emb.dtype))

    def forward(self, image, mask, rois, roi_vis, keypoints) -> torch.Tensor:
        fg, bg = self.encode(image, mask, rois, roi_vis)
        return self.decode(fg, bg, keypoints)


class FactorMappings(nn.Module):
    """Stage II: a mapping network and a critic per factor (section 3.2)."""

    def __init__(self, cfg: Config):
        super().__init__()
        m, p = cfg.mapping, cfg.model
        dims = {"fg": p.fg_dim, "bg": p.bg_dim, "pose": cfg.pose_ae.code_dim}
        names = [f for f in FACTORS if dims[f]]
        self.mappings = nn.ModuleDict({f: build_mapping(m, f, dims[f]) for f in names})
        self.critics = nn.ModuleDict({f: EmbeddingCritic(dims[f], m.critic_hidden, m.critic_layers) for f in names})


class DisentangledPersonModel(nn.Module):
    """Everything the paper trains, in one module so one checkpoint holds a working model."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.stage1 = ReconstructionNetwork(cfg)
        self.pose_ae = PoseAutoEncoder(cfg.pose_ae.hidden, cfg.pose_ae.blocks, cfg.pose_ae.code_dim)
        self.stage2 = FactorMappings(cfg)

    @property
    def factors(self) -> tuple[str, ...]:
        return tuple(self.stage2.mappings.keys())

    def encode(self, image, mask, rois, roi_vis, keypoints) -> Factors:
        fg, bg = self.stage1.encode(image, mask, rois, roi_vis)
        return Factors(fg, bg, keypoints)

    def decode(self, factors: Factors) -> torch.Tensor:
        return self.stage1.decode(factors.fg, factors.bg, factors.keypoints)

    def encode_pose(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Keypoints ``[N,18,3]`` -> pose code ``[N, 32]``."""
        m = self.cfg.model
        return self.pose_ae.encode(pose_vector(keypoints, m.height, m.width))

    def decode_pose(self, code: torch.Tensor) -> torch.Tensor:
        """Pose code ``[N, 32]`` -> keypoints ``[N,18,3]`` (visibility 0/1)."""
        m = self.cfg.model
        return keypoints_from_vector(self.pose_ae.decode(code), m.height, m.width)

    def drawn_pose_code(self, code: torch.Tensor) -> torch.Tensor:
        """Pose code ``[N, 32]`` -> the code of the keypoints it draws, ``E(D(code))`` ``[N, 32]``:
        what the pose of a person composed from ``code`` encodes to. Differentiable (the
        visibilities straight-through), for inversion (``PersonGenerator.invert``)."""
        return self.encode_pose(self.decode_pose(code))

    def map(self, factor: str, z: torch.Tensor) -> torch.Tensor:
        """``z -> e~`` for one factor; for ``pose`` the result is a pose code."""
        return self.stage2.mappings[factor](z)

    def critic(self, factor: str) -> EmbeddingCritic:
        return self.stage2.critics[factor]
