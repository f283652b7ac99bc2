"""The pose auto-encoder (section 3.1 "Pose branch", 3.4, Fig. 10d; Eq. 3).

"For pose sampling, we use an extra fully-connected network to reconstruct the pose
information, so that we can decode the embedded pose features to obtain the heatmaps at the
sampling phase." Input and output are the 54-dim pose vector of ``dpg.keypoints.pose_vector``
(36 coordinates in [-1, 1] and 18 visibilities). Encoder and decoder are each an FC layer,
4 FC residual blocks and a linear layer; the bottleneck has 32 dims. Visibilities leave through
a sigmoid and are rounded with a straight-through estimator, as the reference's
``binaryRound``, so the decoded visibility is exactly 0 or 1 while gradients still flow.
"""

from __future__ import annotations

import torch
from torch import nn

from dpg.keypoints import NUM_JOINTS, POSE_VECTOR_DIM
from dpg.nn import FCResNet


class PoseAutoEncoder(nn.Module):
    def __init__(self, hidden: int = 512, blocks: int = 4, code_dim: int = 32):
        super().__init__()
        self.code_dim = code_dim
        self.encoder = FCResNet(POSE_VECTOR_DIM, code_dim, hidden, blocks)
        self.decoder = FCResNet(code_dim, POSE_VECTOR_DIM, hidden, blocks)

    def encode(self, vector: torch.Tensor) -> torch.Tensor:
        """Pose vector ``[N, 54]`` -> code ``[N, code_dim]``."""
        return self.encoder(vector)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Code ``[N, code_dim]`` -> pose vector ``[N, 54]`` with visibilities in {0, 1}."""
        out = self.decoder(code)
        coords, vis = out[:, : 2 * NUM_JOINTS], torch.sigmoid(out[:, 2 * NUM_JOINTS :])
        vis = vis + (vis.round() - vis).detach()  # straight-through binary rounding
        return torch.cat([coords, vis], 1)

    def forward(self, vector: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(vector))
