"""``PersonGenerator``: the UI-free generation API (sections 3.3, 4.2-4.4 and 4.6).

Everything a person can do with the model, on uint8 images and keypoint arrays:

* ``encode`` an image with keypoints, or ``encode_photo`` any photo (keypoints from mediapipe),
  into ``Factors`` (foreground and background embeddings, pose keypoints);
* ``compose`` any factors into images (``preview=True``: through the narrower preview
  decoder distilled from the model's, ``dpg.preview``, where one was loaded);
* ``sample`` any subset of factors from per-factor seeds: the seed of a factor alone decides
  its noise ``z`` (drawn from its own generator), whatever the other factors or the batch;
* ``swap`` factors and ``swap_parts`` (single body-ROI embeddings) between people; pose
  transfer is ``with_pose``;
* ``interpolate`` in noise space (lerp or slerp), per factor or all;
* ``invert`` embeddings to noise by gradient descent (section 4.4, "inverse interpolation"),
  reporting the residual, and ``inverse_interpolate`` two people.

No Gradio here: the app and the command line are thin layers over this class.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import numpy as np
import torch

from dpg.checkpoint import load_model
from dpg.data.geometry import person_geometry
from dpg.device import resolve_device
from dpg.errors import UserError
from dpg.hub import resolve_checkpoint
from dpg.inversion import MAX_REFINE, Inversion, invert, refine_embeddings
from dpg.keypoints import BODY_PARTS, NUM_PARTS, require_pose
from dpg.model import FACTORS, DisentangledPersonModel, Factors
from dpg.photo import PhotoPerson, on_photo
from dpg.pixels import from_uint8
from dpg.pose.images import load_image
from dpg.pose.person import PersonCropper
from dpg.preview import load_preview, preview_path
from dpg.runtime import FastComposer

log = logging.getLogger(__name__)


class PersonGenerator:
    """A trained ``DisentangledPersonModel`` with a pixel-level API (see module doc)."""

    def __init__(self, model: DisentangledPersonModel, device: torch.device | str | None = None):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        # what the weights hold: a stage-I-only checkpoint encodes and composes but cannot sample
        self.stages = {"stage1", "pose_ae", "stage2"}
        self.cfg = model.cfg
        self.height, self.width = self.cfg.model.height, self.cfg.model.width
        self._directions: dict[str, torch.Tensor] = {}
        # one person at a time (a slider event) through NNPACK's Winograd convolutions: 0.55-0.66x
        # the time on a 2-core CPU, within one grey level (dpg.runtime); batches run eagerly
        self._fast = FastComposer(self.model)
        self.preview = None  # a narrower decoder for slider drags (dpg.preview), once loaded

    @classmethod
    def from_checkpoint(cls, spec=None, device=None) -> "PersonGenerator":
        path = resolve_checkpoint(spec)
        model, meta = load_model(path, "cpu")
        held = meta.get("stages", "")
        if "stage1" not in held:
            raise UserError(f"{path} holds no stage-I weights ({held}); pass a full model checkpoint")
        gen = cls(model, device)
        gen.checkpoint, gen.meta = path, meta
        gen.stages = set(held.split(","))
        if preview_path(path).is_file():
            try:
                gen.load_preview(preview_path(path))
            except UserError as err:  # the full decoder draws every picture: slower, not wrong
                log.warning("no preview decoder: %s", err)
        return gen

    def load_preview(self, path) -> None:
        """Use the preview decoder in ``path`` for ``compose(..., preview=True)``; a
        ``UserError`` when it is not one of this model's (``dpg.preview.load_preview``)."""
        self.preview = load_preview(path, self.model).to(self.device)

    @property
    def factors(self) -> tuple[str, ...]:
        """The factors this model can sample (``fg``, ``bg`` when it has one, ``pose``)."""
        return tuple(f for f in FACTORS if f in self.model.factors)

    # -- encoding and composing
    def geometry(self, keypoints: np.ndarray) -> dict:
        """Pose mask, ROIs and visibilities for keypoints ``[N, 18, 3]`` (batched tensors)."""
        items = [
            person_geometry(k, self.height, self.width, self.cfg.model.mask_radius, self.cfg.model.dataset) for k in np.asarray(keypoints)
        ]
        return {k: torch.stack([g[k] for g in items]).to(self.device) for k in items[0]}

    @torch.no_grad()
    def encode(self, images: np.ndarray, keypoints: np.ndarray, refine: int = 0) -> Factors:
        """uint8 ``[N, H, W, 3]`` (or one ``[H, W, 3]``) and keypoints ``[N, 18, 3]`` in those
        pixels -> ``Factors``.

        ``refine``: Adam steps fitting the encoders' foreground and background to the photo
        itself, the decoder frozen (``dpg.inversion.refine_embeddings``): the person's colours
        come closer (held-out pedestrians: 3.00 -> 2.31 CIELAB units at 25 steps), at about
        ``refine`` times a decoder's forward and backward per person (0.04 s a step on 2
        cores). 0, the default, is the encoders' embeddings as they are."""
        if isinstance(refine, bool) or not isinstance(refine, (int, np.integer)) or not 0 <= refine <= MAX_REFINE:
            raise UserError(f"refine={refine!r}: give a whole number of steps from 0 to {MAX_REFINE} (0: no refinement)")
        images = np.asarray(images)
        keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, 18, 3)
        if images.shape[-3:-1] != (self.height, self.width):
            raise UserError(f"images must be {self.height}x{self.width}, got {images.shape[-3]}x{images.shape[-2]}")
        if keypoints[..., 2].sum() == 0:
            raise UserError("no keypoint is visible: the person cannot be encoded")
        g = self.geometry(keypoints)
        x = from_uint8(images).to(self.device)
        fg, bg = self.model.stage1.encode(x, g["mask"], g["rois"], g["roi_vis"])
        kp = torch.from_numpy(keypoints).to(self.device)
        if refine:  # bf16 on a CPU where it pays; a GPU fits in fp32, as before
            fg, bg = refine_embeddings(self.model.stage1, x, g, kp, fg, bg, int(refine), amp=self.device.type == "cpu")
        return Factors(fg, bg, kp)

    def find_person(self, photo, detector=None):
        """Any photo -> ``dpg.photo.PhotoPerson``: the one person in it, cropped at the model's
        size, with the photo and the person's mask at its own pixels (for ``on_photo``).

        ``photo`` is a path, bytes, a PIL image or an array (``dpg.pose.images.load_image``).
        The person is found by ``dpg.pose.person.PersonCropper`` (mediapipe, segmenting), cropped with
        the model's aspect ratio and resized to the model's size. Raises ``UserError`` when the
        file is not an image, or shows no person, several people or too few joints.
        ``detector`` replaces the pose detector (``PoseDetector.detect``'s signature).
        """

        image = load_image(photo)
        if detector is not None:
            cropper = PersonCropper(detector)
        else:
            cropper = self._cropper = getattr(self, "_cropper", None) or PersonCropper()
        name = str(photo) if isinstance(photo, (str, os.PathLike)) else "the photo"
        found = cropper.find(image, (self.height, self.width), name)
        return PhotoPerson(image, found.crop, found.keypoints, found.box, found.box_mask)

    def encode_photo(self, photo, detector=None) -> tuple[Factors, np.ndarray, np.ndarray]:
        """Any photo -> ``(factors, crop uint8 [H, W, 3], keypoints [18, 3] in the crop)``;
        ``find_person`` tells how the person is found and what is refused."""
        person = self.find_person(photo, detector)
        return self.encode(person.crop[None], person.keypoints[None]), person.crop, person.keypoints

    def on_photo(self, person, factors: Factors, changed, background=None) -> np.ndarray:
        """An edit of a photo at the photo's own pixel density (``dpg.photo.on_photo``).

        Args:
            person: the photo's ``PhotoPerson`` (``find_person``).
            factors: the edited factors (batch of one).
            changed: which of ``fg``, ``bg``, ``pose`` the edit changed (a body-part swap
                changes ``fg``).
            background: with ``bg`` changed, the ``PhotoPerson`` whose real background to
                take; None takes the model's background of ``factors``.

        Returns:
            uint8 ``[H, W, 3]``: the whole photo when only the person changed, else the
            person's box at the photo's pixels.
        """

        changed = set(changed)
        unknown = changed - {"fg", "bg", "pose"}
        if unknown:
            raise UserError(f"changed factors must be among fg, bg, pose, not {sorted(unknown)}")
        keep_person = not changed & {"fg", "pose"}
        if "bg" not in changed:
            where = "photo"
        else:
            where = background if background is not None else "model"
        f = factors[:1]
        kp = f.keypoints[0].detach().cpu().numpy()
        # Decode only what this edit shows, one person at a time (the fast path): the model's
        # person unless the photo's is kept on another photo's background; the same factors
        # with no joints (the decoder then draws their background alone: where the model's
        # person is, and what fills the place the old one leaves) when the model's person is
        # pasted on a photo; another photo's own background once per photo (it never changes).
        image = empty = other_empty = None
        if not keep_person or where == "model":
            image = self.compose(f)[0]
        if not keep_person and where != "model":
            empty = self.compose(Factors(f.fg, f.bg, torch.zeros_like(f.keypoints)))[0]
        if isinstance(where, PhotoPerson):

            def own_background(b=where):
                own = self.encode(b.crop[None], b.keypoints[None])
                return self.compose(Factors(own.fg, own.bg, torch.zeros_like(own.keypoints)))[0]

            other_empty = where.backdrop(own_background)
        return on_photo(person, image, kp, empty, keep_person, where, other_empty)

    @torch.no_grad()
    def compose(self, factors: Factors, preview: bool = False) -> np.ndarray:
        """``Factors`` -> uint8 images ``[N, H, W, 3]`` (``dpg.runtime.FastComposer``: one
        person within ``TOLERANCE_LEVELS`` of the eager decoder, a batch exactly it).
        ``preview``: drawn by the preview decoder when one is loaded (a quarter of the time,
        a blurrier picture; ``dpg.preview``), by the full one otherwise."""
        return self._fast.compose(factors, self.preview if preview else None)

    # -- sampling
    def noise(self, factor: str, seeds) -> torch.Tensor:
        """``z`` ``[len(seeds), K]`` of one factor: row ``i`` depends on ``seeds[i]`` alone."""
        mapping = self._mapping(factor)
        rows = [mapping.noise(1, torch.Generator().manual_seed(int(s)))[0] for s in np.atleast_1d(seeds)]
        return torch.stack(rows).to(self.device)

    @torch.no_grad()
    def factor_from_z(self, factor: str, z: torch.Tensor) -> torch.Tensor:
        """Map noise to the factor: embeddings for ``fg``/``bg``, keypoints ``[N,18,3]`` for ``pose``."""
        e = self.model.map(factor, z.to(self.device))
        return self.model.decode_pose(e) if factor == "pose" else e

    def sample(self, fg=None, bg=None, pose=None, base: Factors | None = None, offsets: dict | None = None) -> Factors:
        """Factors with each of ``fg``, ``bg``, ``pose`` either sampled from seeds (an int or a
        list of ints) or, when ``None``, taken from ``base``. ``offsets`` moves a sampled
        factor along its main directions: ``{"fg": [a0, a1, ...]}`` in standard deviations."""
        seeds = {"fg": fg, "bg": bg, "pose": pose}
        n = max([len(np.atleast_1d(s)) for s in seeds.values() if s is not None] or [len(base) if base else 1])
        out = {}
        for f in ("fg", "bg", "pose"):
            if seeds[f] is None:
                if base is None:
                    raise UserError(f"no seed and no base person for the {f} factor")
                out[f] = {"fg": base.fg, "bg": base.bg, "pose": base.keypoints}[f]
                continue
            if f not in self.factors:
                raise UserError(f"this model has no {f} factor (it models {', '.join(self.factors)})")
            s = np.atleast_1d(seeds[f])
            s = np.repeat(s, n) if len(s) == 1 else s
            z = self.noise(f, s)
            if offsets and offsets.get(f) is not None:
                z = z + self.shift(f, offsets[f])
            out[f] = self.factor_from_z(f, z)
        return Factors(out["fg"], out["bg"], out["pose"])

    @torch.no_grad()
    def directions(self, factor: str, k: int = 3, samples: int = 2048) -> torch.Tensor:
        """The ``k`` main directions of variation of a factor, in noise space ``[k, K]``.

        Directions are the top principal axes of ``Phi(z)`` over ``samples`` fixed noise draws,
        pulled back to noise space through the least-squares Jacobian of ``Phi`` (so a slider
        moves ``z`` and the result stays on the learned distribution), scaled so one unit is
        one standard deviation of the noise.
        """
        key = f"{factor}:{k}"
        if key not in self._directions:
            mapping = self._mapping(factor)
            z = mapping.noise(samples, torch.Generator().manual_seed(12345)).to(self.device)
            e = mapping(z)
            # Exact SVD, not pca_lowrank: that one is randomized (global RNG), so a slider
            # position would show a slightly different person in every process.
            _, _, vh = torch.linalg.svd(e - e.mean(0), full_matrices=False)
            v = vh[:k].T  # [K, k]
            sol = torch.linalg.lstsq(z - z.mean(0), (e - e.mean(0)) @ v).solution  # [K, k]
            d = sol.T / sol.T.norm(dim=1, keepdim=True)
            # Fix each axis' sign (SVD's is arbitrary): its largest component is positive.
            d = d * torch.sign(d.gather(1, d.abs().argmax(1, keepdim=True)))
            self._directions[key] = d * mapping.noise_std * np.sqrt(mapping.dim)
        return self._directions[key]

    def shift(self, factor: str, amounts) -> torch.Tensor:
        amounts = torch.as_tensor(np.asarray(amounts, dtype=np.float32), device=self.device)
        d = self.directions(factor, len(amounts))
        return (amounts[:, None] * d).sum(0, keepdim=True) / np.sqrt(d.shape[1])

    # -- editing
    @staticmethod
    def swap(a: Factors, b: Factors, factors=("bg",)) -> Factors:
        """``a`` with the given factors taken from ``b``."""
        fg = b.fg if "fg" in factors else a.fg
        bg = b.bg if "bg" in factors else a.bg
        kp = b.keypoints if "pose" in factors else a.keypoints
        return Factors(fg, bg, kp)

    def swap_parts(self, a: Factors, b: Factors, parts=("upper_body",)) -> Factors:
        """``a`` with single body-ROI embeddings (``dpg.keypoints.BODY_PARTS``) taken from ``b``."""
        bad = [p for p in parts if p not in BODY_PARTS]
        if bad:
            raise UserError(f"unknown body part(s) {bad}; choose from {', '.join(BODY_PARTS)}")
        if self.cfg.model.foreground != "body_roi7":
            raise UserError("part swapping needs a BodyROI7 model; this one encodes the whole body at once")
        fa = a.fg.view(len(a), NUM_PARTS, -1).clone()
        fb = b.fg.view(len(b), NUM_PARTS, -1)
        for p in parts:
            i = BODY_PARTS.index(p)
            fa[:, i] = fb[:, i]
        return replace(a, fg=fa.flatten(1))

    def with_pose(self, a: Factors, keypoints: np.ndarray) -> Factors:
        """Pose transfer: ``a``'s appearance in the pose ``keypoints`` ``[N or 1, 18, 3]``.
        A pose with no usable joint is refused (``dpg.keypoints.require_pose``)."""

        rows = np.asarray(keypoints, dtype=np.float32).reshape(-1, 18, 3)
        rows = np.stack([require_pose(k, self.height, self.width) for k in rows])
        kp = torch.as_tensor(rows, device=self.device)
        if kp.shape[0] == 1 and len(a) > 1:
            kp = kp.expand(len(a), 18, 3)
        return Factors(a.fg, a.bg, kp)

    # -- interpolation and inversion
    @staticmethod
    def blend(z1: torch.Tensor, z2: torch.Tensor, steps: int, method: str = "lerp") -> torch.Tensor:
        """``steps`` codes from ``z1`` to ``z2`` ``[K]`` -> ``[steps, K]``, linear or spherical."""
        t = torch.linspace(0, 1, steps, device=z1.device)[:, None]
        if method == "lerp":
            return (1 - t) * z1 + t * z2
        if method != "slerp":
            raise UserError(f"unknown interpolation {method!r}: use lerp or slerp")
        omega = torch.arccos(((z1 / z1.norm()) * (z2 / z2.norm())).sum().clamp(-1, 1))
        if omega.abs() < 1e-6:
            return (1 - t) * z1 + t * z2
        return (torch.sin((1 - t) * omega) * z1 + torch.sin(t * omega) * z2) / torch.sin(omega)

    def interpolate(self, z1: dict, z2: dict, steps: int = 8, method: str = "lerp", factors=None) -> Factors:
        """Interpolate noise codes ``{factor: z [K]}``; factors not in ``factors`` stay at ``z1``
        (``z2`` needs only the interpolated ones)."""
        factors = factors or self.factors
        out = {}
        for f in self.factors:
            a = z1[f].reshape(-1)
            path = self.blend(a, z2[f].reshape(-1), steps, method) if f in factors else a.expand(steps, -1)
            out[f] = self.factor_from_z(f, path)
        return Factors(out["fg"], out.get("bg"), out["pose"])

    def invert(
        self, factors: Factors, iters: int = 1000, tol: float = 0.01, starts: int = 4, pool: int = 8192, hops: int = 20, only=None
    ) -> Inversion:
        """Find ``z`` with ``Phi(z)`` close to each factor's embedding (section 4.4, after Lipton
        & Tripathi): L-BFGS from ``starts`` noise draws per person, then up to ``hops`` basin
        hops while the residual (relative to the embedding's norm) is above ``tol``
        (``dpg.inversion.invert``; docs/inversion.md tells how each choice was measured).
        ``only`` names the factors to invert (default: all the model's); the result holds those."""
        chosen = (only,) if isinstance(only, str) else tuple(self.factors if only is None else only)
        if not chosen:
            raise UserError(f"nothing to invert: name at least one of this model's factors ({', '.join(self.factors)})")
        mappings = {f: self._mapping(f) for f in chosen}  # every name checked before any fitting
        return invert(self.model, mappings, factors, iters, tol, starts, pool, hops, self.device)

    def inverse_interpolate(self, a: Factors, b: Factors, steps: int = 8, method: str = "lerp", factors=None, **kw):
        """Invert two people to noise, interpolate, decode. Returns ``(Factors, Inversion, Inversion)``;
        ``b`` is inverted only in the interpolated ``factors`` (the others stay ``a``'s)."""
        if "only" in kw:
            raise UserError("inverse_interpolate chooses the factors to invert from `factors`; leave out `only`")
        ia, ib = self.invert(a, **kw), self.invert(b, only=factors, **kw)
        fac = self.interpolate({f: ia.z[f][0] for f in ia.z}, {f: ib.z[f][0] for f in ib.z}, steps, method, factors)
        return fac, ia, ib

    def _mapping(self, factor: str):
        if factor not in self.model.factors:
            raise UserError(f"this model has no {factor} factor (it models {', '.join(self.model.factors)})")
        need = {"stage2"} | ({"pose_ae"} if factor == "pose" else set())
        if not need <= self.stages:
            where = getattr(self, "checkpoint", "this model")
            raise UserError(
                f"{where} holds {', '.join(sorted(self.stages))} but no trained "
                f"{' or '.join(sorted(need - self.stages))}: sampling, interpolating and inverting need "
                "a whole model (train.stage2's model.safetensors, or the bundled weights)"
            )
        return self.model.stage2.mappings[factor]
