"""Shared building blocks (section 3.4): convolutional and fully connected residual blocks.

"For both stages, we use residual blocks ... All convolution layers consist of 3x3 filters and
the number of filters increases linearly with each block ... ReLU ... except for the
bottleneck and the output layers." The reference's blocks (BEGAN style) have no
normalisation layers; neither do ours.
"""

from __future__ import annotations

import torch
from torch import nn


def assert_shape(tensor: torch.Tensor, shape: tuple) -> None:
    """Check ``tensor.shape`` against ``shape``, where ``None`` matches any size."""
    if tensor.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, tensor.shape)):
        raise ValueError(f"expected shape {shape}, got {tuple(tensor.shape)}")


class ConvResBlock(nn.Module):
    """Two 3x3 convolutions with ReLU and an identity shortcut: ``x + f(x)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.conv2(torch.relu(self.conv1(x))))


class FCResBlock(nn.Module):
    """Two fully connected layers with LeakyReLU(0.2) and an identity shortcut."""

    def __init__(self, width: int):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + nn.functional.leaky_relu(self.fc2(nn.functional.leaky_relu(self.fc1(x), 0.2)), 0.2)


class FCResNet(nn.Module):
    """``in -> FC(hidden) -> blocks x FCResBlock(hidden) -> FC(out)``, linear output.

    The shape of the pose auto-encoder's halves (Fig. 10d) and of the stage-II mapping
    functions (Fig. 9).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int, blocks: int):
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.blocks = nn.Sequential(*[FCResBlock(hidden) for _ in range(blocks)])
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(nn.functional.leaky_relu(self.inp(x), 0.2)))


class EncoderTower(nn.Module):
    """N convolutional residual blocks with stride-2 convolutions between them, then FC.

    Block ``i`` has ``channels * (i + 1)`` channels ("the number of filters increases linearly
    with each block"); the last block is not followed by a sub-sampling convolution.
    Input ``[N, channels, H, W]`` -> output ``[N, out_dim]`` (linear).
    """

    def __init__(self, channels: int, blocks: int, in_size: tuple[int, int], out_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        h, w = in_size
        for i in range(blocks):
            layers.append(ConvResBlock(channels * (i + 1)))
            if i < blocks - 1:
                layers += [nn.Conv2d(channels * (i + 1), channels * (i + 2), 3, stride=2, padding=1), nn.ReLU()]
                h, w = (h + 1) // 2, (w + 1) // 2
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(channels * blocks * h * w, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))
