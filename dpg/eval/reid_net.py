"""A re-ID network trained on generated identities (paper section 4.6, "Using generated virtual
image pairs", Table 2 bottom).

The paper trains the re-ID model of [6] (Fan et al., PUL: an ImageNet ResNet-50 fine-tuned as
an identity classifier) on the Virtual Market (VM: 500 sampled foregrounds x 24 images,
``dpg virtual-market``) and tests on real Market-1501. Here the same identity-classification
("IDE") recipe runs with nothing downloaded, so the backbone starts from random weights:

* ``resnet50``: torchvision's ResNet-50 (``weights=None``), global average pooling, 2048-d
  descriptor, a linear identity classifier; the paper's architecture.
* ``small``: four stages of two conv-BN-ReLU (32, 64, 128, 256 channels; 2x2 max pooling
  between them), 256-d descriptor; a CPU
  preset that trains in minutes, for smoke tests and small VMs.

Training: cross-entropy over the VM identities, SGD (momentum 0.9, Nesterov, weight decay
5e-4), learning rate divided by 10 after two thirds of the epochs, random horizontal flips and
4-px padded random crops. Descriptors are the pooled features, l2-normalised and compared by
Euclidean distance under the Market protocol (``dpg.eval.reid``). Without ImageNet
pre-training the numbers are not the paper's; the comparison that stays meaningful is
between VMs from different models under this same recipe.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from dpg.errors import UserError
from dpg.eval.reid import evaluate_descriptors, market_folder

ARCHS = ("resnet50", "small")
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # the usual ImageNet statistics
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class ReIDTrainConfig:
    arch: str = "resnet50"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.05
    weight_decay: float = 5e-4
    seed: int = 0


def _small_backbone() -> tuple[nn.Module, int]:
    layers, c_in = [], 3
    for i, c in enumerate((32, 64, 128, 256)):
        layers += [
            nn.Conv2d(c_in, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        ]
        if i < 3:  # 128x64 -> 16x8 before the global pooling
            layers.append(nn.MaxPool2d(2))
        c_in = c
    layers.append(nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*layers), 256


class ReIDNet(nn.Module):
    """Backbone + global pooling -> descriptor ``[N, D]``; ``forward`` gives identity logits."""

    def __init__(self, arch: str, num_classes: int):
        super().__init__()
        if arch == "resnet50":
            net = torchvision.models.resnet50(weights=None)  # no ImageNet weights: nothing downloads
            self.dim = net.fc.in_features
            net.fc = nn.Identity()
            self.backbone = net
        elif arch == "small":
            self.backbone, self.dim = _small_backbone()
        else:
            raise UserError(f"unknown re-ID architecture {arch!r}; choose one of {', '.join(ARCHS)}")
        self.arch, self.num_classes = arch, int(num_classes)
        self.classifier = nn.Linear(self.dim, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """uint8-derived float images ``[N, 3, H, W]`` in [0, 1] -> descriptors ``[N, D]``."""
        x = (x - _MEAN.to(x.device)) / _STD.to(x.device)
        return self.backbone(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def load_folder(folder: str) -> tuple[torch.Tensor, np.ndarray, np.ndarray, list[str]]:
    """All images of a Market-layout folder: uint8 ``[N, 3, H, W]``, ids, cameras, names."""

    root, name = os.path.split(os.path.normpath(folder))
    folder, names, ids, cams = market_folder(root, name)
    images = [np.asarray(Image.open(os.path.join(folder, n)).convert("RGB")) for n in names]
    sizes = {im.shape for im in images}
    if len(sizes) != 1:
        raise UserError(f"images of {folder} differ in size ({sorted(sizes)[:3]}): re-ID expects one size")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), ids, cams, names


def _augment(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flip and random crop after ``pad`` px of reflection padding."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def train_reid(folder: str, cfg: ReIDTrainConfig, device="cpu", log=print) -> ReIDNet:
    """Train an identity classifier on a Market-layout folder of generated people (module doc)."""
    images, ids, _, _ = load_folder(folder)
    labels_of = {int(p): i for i, p in enumerate(sorted(set(ids.tolist())))}
    if len(labels_of) < 2:
        raise UserError(f"{folder} holds {len(labels_of)} identity; re-ID training needs at least 2")
    labels = torch.tensor([labels_of[int(p)] for p in ids])
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    net = ReIDNet(cfg.arch, len(labels_of)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    drop_at = max(1, (2 * cfg.epochs) // 3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [drop_at], 0.1)
    net.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(images), generator=g)
        total, correct, seen = 0.0, 0, 0
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            x = _augment(images[idx].float() / 255, g).to(device)
            y = labels[idx].to(device)
            logits = net(x)
            loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        sched.step()
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / max(seen, 1):.4f}, train accuracy {correct / max(seen, 1):.3f}")
    return net.eval()


@torch.no_grad()
def describe(net: ReIDNet, images: torch.Tensor, device="cpu", batch_size: int = 128) -> np.ndarray:
    """uint8 ``[N, 3, H, W]`` -> descriptors float ``[N, D]`` (eval mode)."""
    net.eval()
    out = [net.features(images[i : i + batch_size].float().to(device) / 255).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy()


def evaluate_network(net: ReIDNet, root: str, device="cpu") -> dict:
    """Market ranking of ``root/query`` against ``root/bounding_box_test`` with the network's
    descriptors (``dpg.eval.reid``)."""

    qx, qids, qcams, _ = load_folder(os.path.join(root, "query"))
    gx, gids, gcams, _ = load_folder(os.path.join(root, "bounding_box_test"))
    result = evaluate_descriptors(describe(net, qx, device), describe(net, gx, device), qids, qcams, gids, gcams)
    return {"descriptor": f"{net.arch} pooled features ({net.dim} dims)", **result.as_dict()}


def save_reid(net: ReIDNet, path: str, cfg: ReIDTrainConfig) -> None:
    """safetensors weights with the architecture and training config in the header."""

    meta = {"arch": net.arch, "num_classes": str(net.num_classes), "train": json.dumps(asdict(cfg))}
    tmp = f"{path}.tmp{os.getpid()}"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp, metadata=meta)
    os.replace(tmp, path)


def load_reid(path: str, device="cpu") -> ReIDNet:

    if not os.path.isfile(path):
        raise UserError(f"re-ID weights {path} not found")
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    if "arch" not in meta:
        raise UserError(f"{path} is no re-ID network saved by `dpg eval reid train`")
    net = ReIDNet(meta["arch"], int(meta["num_classes"]))
    net.load_state_dict(load_file(path))
    return net.to(device).eval()
