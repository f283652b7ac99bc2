"""``PersonGenerator``: the UI-free generation API (sections 3.3, 4.2-4.4 and 4.6).

Everything a person can do with the model, on uint8 images and keypoint arrays:

* ``encode`` an image with keypoints, or ``encode_photo`` any photo (keypoints from mediapipe),
  into ``Factors`` (foreground and background embeddings, pose keypoints);
* ``compose`` any factors into images;
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

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dpg.checkpoint import load_model
from dpg.data.geometry import person_geometry
from dpg.errors import UserError
from dpg.keypoints import BODY_PARTS, NUM_PARTS
from dpg.model import FACTORS, DisentangledPersonModel, Factors
from dpg.runtime import FastComposer

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_CHECKPOINT = ASSETS / "dpg-demo.safetensors"  # trained on real people (assets/MODEL_CARD.md)
# The bundled models by name (``--checkpoint procedural``): the default, and the model trained on
# procedural people alone, kept for the ground-truth benchmarks (bench_quality, bench_stage2).
BUNDLED = {"real": DEFAULT_CHECKPOINT, "procedural": ASSETS / "dpg-procedural.safetensors"}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(spec: torch.device | str | None) -> torch.device:
    """``--device`` -> a device that exists here (CUDA when present for ``None``), or a
    ``UserError`` naming what is available."""
    if spec is None:
        return default_device()
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {spec!r}: use cpu or cuda (cuda:N for the N-th GPU)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {spec}: this machine has no usable CUDA GPU; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {spec}: there are {torch.cuda.device_count()} GPUs (cuda:0 ..)")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {spec}: dpg runs on cpu or cuda")
    return device


def resolve_checkpoint(spec: str | os.PathLike | None) -> Path:
    """A local path, or a Hugging Face Hub repo id (``owner/name`` or ``hf://owner/name``)
    fetched with ``huggingface_hub`` when it is installed and the hub is reachable."""
    if spec is None or (str(spec) in BUNDLED and not Path(spec).exists()):  # a bundled model, by name or default
        bundled = DEFAULT_CHECKPOINT if spec is None else BUNDLED[str(spec)]
        if not bundled.exists():
            raise UserError(f"the bundled weights {bundled} are missing: reinstall, or pass --checkpoint PATH")
        return bundled
    path = Path(spec).expanduser()
    if path.is_dir():
        inside = sorted(path.glob("*.safetensors"))
        hint = f", e.g. {inside[0]}" if inside else ""
        raise UserError(f"{spec} is a folder: pass the .safetensors file inside it{hint}")
    if path.exists():
        return path
    text = str(spec)
    # owner/name is a Hub id unless its first part is a folder here (then most likely a
    # mistyped path); hf://owner/name is always the Hub
    looks_local = path.parent.is_dir() and str(path.parent) not in ("", ".")
    hub = text.removeprefix("hf://") if text.startswith("hf://") else None
    if hub is None and text.count("/") == 1 and not text.endswith(".safetensors") and not text.startswith((".", "/")):
        if looks_local:
            raise UserError(f"checkpoint not found: {spec} (there is a folder {path.parent} here; for the Hub repo, pass hf://{text})")
        hub = text
    if hub is not None:
        text = hub
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise UserError(f"{text} is not a file, and huggingface_hub is not installed to fetch it from the Hub") from None
        try:
            return Path(hf_hub_download(text, "model.safetensors"))
        except Exception as err:  # the hub client raises many kinds; all mean "could not fetch"
            raise UserError(
                f"could not fetch {text}/model.safetensors from the Hugging Face Hub ({type(err).__name__}); "
                "check the repo id and the network, or pass a local path"
            ) from None
    raise UserError(f"checkpoint not found: {spec} (a .safetensors path or a Hub repo id owner/name)")


def push_to_hub(checkpoint: str | os.PathLike, repo_id: str) -> str:
    """Upload a checkpoint as ``model.safetensors`` of a Hub model repo; returns its URL."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise UserError("pushing needs huggingface_hub: pip install 'dpg[hub]'") from None
    try:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        api.upload_file(path_or_fileobj=str(checkpoint), path_in_repo="model.safetensors", repo_id=repo_id)
    except Exception as err:
        raise UserError(f"could not push to the Hugging Face Hub ({type(err).__name__}: {err}); log in and check the network") from None
    return f"https://huggingface.co/{repo_id}"


@dataclass(frozen=True)
class Inversion:
    """Noise codes found for embeddings, with the residual ``||Phi(z) - e|| / ||e||`` per row."""

    z: dict[str, torch.Tensor]
    residual: dict[str, np.ndarray]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[N, 3, H, W]`` about [-1, 1] -> uint8 ``[N, H, W, 3]`` (the decoder is linear: clamp)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return x.permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` or ``[H, W, 3]`` -> float ``[N, 3, H, W]`` in [-1, 1]."""
    a = np.ascontiguousarray(images)
    x = torch.from_numpy(a if a.flags.writeable else a.copy())  # torch warns on read-only arrays
    if x.ndim == 3:
        x = x[None]
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1


# Basin hops after an inversion's fit (``PersonGenerator.invert``): the kick's std as a fraction
# of the mapping's noise std, and the L-BFGS iterations of each refit. Tuned on the foregrounds
# of eight sampled people (seeds 100-107, a one-start fit, 25 hops): a kick of 0.15 stayed in the
# same basin (3 of 8 below 1%), 1.0 was a restart in all but name (3 of 8); 0.5: 8 of 8.
HOP_KICK = 0.5
HOP_ITERS = 300


def _fit(fn, z: torch.Tensor, target: torch.Tensor, iters: int, tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """L-BFGS on ``||fn(z) - target||^2`` from the starts ``z`` ``[S, K]`` of one person (one
    problem: the starts share the line search), in rounds of 100 iterations until the best
    start is within ``tol`` of the target's norm or ``iters`` are spent. Returns ``z`` and each
    start's relative residual ``[S]``."""
    z = z.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=1, max_iter=100, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (fn(z) - target).pow(2).sum()
        loss.backward()
        return loss

    for _ in range(max(1, iters // 100)):
        opt.step(closure)
        with torch.no_grad():
            rel = (fn(z) - target).norm(dim=1) / target.norm(dim=1).clamp_min(1e-8)  # [S]
        if float(rel.min()) < tol:
            break
    return z.detach(), rel


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
        return gen

    @property
    def factors(self) -> tuple[str, ...]:
        """The factors this model can sample (``fg``, ``bg`` when it has one, ``pose``)."""
        return tuple(f for f in FACTORS if f in self.model.factors)

    # -- encoding and composing
    def geometry(self, keypoints: np.ndarray) -> dict:
        """Pose mask, ROIs and visibilities for keypoints ``[N, 18, 3]`` (batched tensors)."""
        items = [person_geometry(k, self.height, self.width, self.cfg.model.mask_radius) for k in np.asarray(keypoints)]
        return {k: torch.stack([g[k] for g in items]).to(self.device) for k in items[0]}

    @torch.no_grad()
    def encode(self, images: np.ndarray, keypoints: np.ndarray) -> Factors:
        """uint8 ``[N, H, W, 3]`` (or one ``[H, W, 3]``) and keypoints ``[N, 18, 3]`` in those
        pixels -> ``Factors``."""
        images = np.asarray(images)
        keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, 18, 3)
        if images.shape[-3:-1] != (self.height, self.width):
            raise UserError(f"images must be {self.height}x{self.width}, got {images.shape[-3]}x{images.shape[-2]}")
        if keypoints[..., 2].sum() == 0:
            raise UserError("no keypoint is visible: the person cannot be encoded")
        g = self.geometry(keypoints)
        x = from_uint8(images).to(self.device)
        fg, bg = self.model.stage1.encode(x, g["mask"], g["rois"], g["roi_vis"])
        return Factors(fg, bg, torch.from_numpy(keypoints).to(self.device))

    def find_person(self, photo, detector=None):
        """Any photo -> ``dpg.photo.PhotoPerson``: the one person in it, cropped at the model's
        size, with the photo and the person's mask at its own pixels (for ``on_photo``).

        ``photo`` is a path, bytes, a PIL image or an array (``dpg.pose.images.load_image``).
        The person is found by ``dpg.pose.person.PersonCropper`` (mediapipe, segmenting), cropped with
        the model's aspect ratio and resized to the model's size. Raises ``UserError`` when the
        file is not an image, or shows no person, several people or too few joints.
        ``detector`` replaces the pose detector (``PoseDetector.detect``'s signature).
        """
        from dpg.photo import PhotoPerson
        from dpg.pose.images import load_image
        from dpg.pose.person import PersonCropper

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
        from dpg.photo import PhotoPerson, on_photo

        changed = set(changed)
        unknown = changed - {"fg", "bg", "pose"}
        if unknown:
            raise UserError(f"changed factors must be among fg, bg, pose, not {sorted(unknown)}")
        keep_person = not changed & {"fg", "pose"}
        if "bg" not in changed:
            where = "photo"
        else:
            where = background if background is not None else "model"
        f = Factors(factors.fg[:1], None if factors.bg is None else factors.bg[:1], factors.keypoints[:1])
        rows = [f]
        if isinstance(where, PhotoPerson):  # fill where its person stood with its own background
            rows.append(self.encode(where.crop[None], where.keypoints[None]))
        fg = torch.cat([r.fg for r in rows])
        bg = None if f.bg is None else torch.cat([r.bg for r in rows])
        # the same people with no joints: the decoder draws their background alone (where the
        # model's person is, and what fills the place a person leaves), all in one pass
        n = len(rows)
        both = Factors(
            fg.repeat(2, 1),
            None if bg is None else bg.repeat(2, 1),
            torch.cat([f.keypoints] + [torch.zeros_like(f.keypoints)] * (2 * n - 1)),
        )
        images = self.compose(both)
        image, empty = images[0], images[n]
        other_empty = images[n + 1] if n > 1 else None
        kp = f.keypoints[0].detach().cpu().numpy()
        return on_photo(person, image, kp, empty, keep_person, where, other_empty)

    @torch.no_grad()
    def compose(self, factors: Factors) -> np.ndarray:
        """``Factors`` -> uint8 images ``[N, H, W, 3]`` (``dpg.runtime.FastComposer``: one
        person within ``TOLERANCE_LEVELS`` of the eager decoder, a batch exactly it)."""
        return self._fast.compose(factors)

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
        from dpg.keypoints import require_pose

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
        self,
        factors: Factors,
        iters: int = 1000,
        tol: float = 0.01,
        starts: int = 4,
        pool: int = 8192,
        hops: int = 20,
        only=None,
    ) -> Inversion:
        """Find ``z`` with ``Phi(z)`` close to each factor's embedding (section 4.4, after Lipton
        & Tripathi): L-BFGS on the squared distance from ``starts`` noise draws per person,
        keeping the best, in rounds of 100 iterations until the residual (relative to the
        embedding's norm) is below ``tol`` or ``iters`` are spent; each person is fitted on its
        own. (Adam, tried first, crawled below a few percent.)

        The pose is compared like with like (and may take ``min(300, iters)`` iterations more). Its target is the pose code of the person's
        keypoints, ``E(k)``; what a ``z`` draws is keypoints too, ``D(Phi(z))``, whose code is
        ``E(D(Phi(z)))``. That round trip moves a sampled code by 6% (median; 12% at the 90th
        percentile), off the mapping's range, so fitting ``Phi(z)`` itself to ``E(k)`` stalled
        at 1-4% (the bench person: 2.3%). The pose therefore runs in two phases: three rounds
        on ``Phi(z)`` from the draws nearest to the target among ``pool`` (one batched pass),
        which puts each start where the right joints are visible (the round trip is flat in
        the thresholded visibilities between their jumps; fitting it from the pool's draws
        directly stalled at 12-25% for four of seven people), then rounds on
        ``E(D(Phi(z)))``, whose residual is reported: below 0.4% on ten sampled people (run to
        convergence) where the one-phase fit left 0.4-3.6%. The foreground and background
        start from random draws (nearest starts made them worse, 1.3% against 0.84%) and fit
        ``Phi(z)`` directly.

        Where the fit ends above ``tol``, up to ``hops`` basin hops follow (``HOP_*``): kick the
        best ``z`` by Gaussian noise of half the noise's std, refit ``HOP_ITERS`` iterations,
        keep the result only if it is better. The foreground mapping folds its 224 noise
        dimensions onto a thin manifold (a network regressing ``z`` from ``Phi(z)`` misses by 82%),
        so L-BFGS stops at the foot of a fold, 1-3% from targets it could reach exactly. On twelve
        sampled people (``iters=1000``, ``tol=0.008``) no foreground fit ended below 1% (median
        2.3%) and 7 of 12 backgrounds did; with 20 hops 10 of 12 foregrounds (the others 1.04% and
        1.06%) and all 12 backgrounds did, in 17 s a person for both on one CPU thread. Fresh
        random restarts instead of kicks gained nothing (1.4-4.1%), nor did kicks as large as a
        draw. On an encoded photo, which no ``z`` reaches exactly, every hop runs: ten roughly
        halve the residual (fg 10-13% to 5-6%); one photo's three factors take 6 s without hops,
        18 s with 10 and 25 s with 20 on a CPU. ``hops=0`` skips them where time matters more
        (the app).

        ``only`` names the factors to invert (default: all the model's); the result holds those.
        Each hop refits up to ``HOP_ITERS`` iterations, so ``iters`` bounds the first fit only."""
        chosen = (only,) if isinstance(only, str) else tuple(self.factors if only is None else only)
        if not chosen:
            raise UserError(f"nothing to invert: name at least one of this model's factors ({', '.join(self.factors)})")
        mappings = {f: self._mapping(f) for f in chosen}  # every name checked before any fitting
        zs, res = {}, {}
        params = list(self.model.parameters())
        flags = [q.requires_grad for q in params]
        self.model.requires_grad_(False)  # gradients for z alone
        try:
            for f, mapping in mappings.items():
                near = None  # the pose's pool: draws [P, K] and their codes [P, K], shared by every person
                if f == "pose" and pool > starts:
                    with torch.no_grad():
                        draws = mapping.noise(pool, torch.Generator().manual_seed(0)).to(self.device)
                        near = draws, mapping(draws)
                target = self.model.encode_pose(factors.keypoints) if f == "pose" else getattr(factors, f)
                found = [self._invert_one(f, mapping, e[None], iters, tol, starts, near, hops) for e in target.detach()]
                zs[f] = torch.cat([z for z, _ in found])
                res[f] = np.array([r for _, r in found])
        finally:
            for q, flag in zip(params, flags):
                q.requires_grad_(flag)
        return Inversion(zs, res)

    def _invert_one(self, f: str, mapping, e: torch.Tensor, iters: int, tol: float, starts: int, near=None, hops: int = 0):
        """One person's ``z`` ``[1, K]`` and relative residual for factor ``f`` (``invert``);
        ``near`` (the pose's pool of draws and codes) gives starts nearest to ``e`` instead of
        random draws. People are fitted one at a time: L-BFGS shares its line search and curvature history
        across the rows it is given, so a batch of people would couple their results (on the
        tiny test model one person came out at 1.15% beside another and 0.12% alone)."""
        target = e.repeat(starts, 1)  # [starts, K]
        if near is None:
            z = mapping.noise(starts, torch.Generator().manual_seed(0)).to(self.device)
        else:
            draws, codes = near
            z = draws[torch.cdist(codes, e)[:, 0].topk(starts, largest=False).indices]
        fn = mapping
        if f == "pose":
            z, _ = _fit(mapping, z, target, min(300, iters), tol)

            def fn(z):  # the code of the keypoints z draws
                return self.model.drawn_pose_code(mapping(z))

        z, rel = _fit(fn, z, target, iters, tol)
        best = int(rel.argmin())
        z, r = z[best : best + 1], float(rel[best])
        kicks = torch.Generator().manual_seed(1)  # drawn on the CPU: the same hops on every device
        for _ in range(hops):
            if r < tol:
                break
            kick = torch.randn(z.shape, generator=kicks).to(self.device) * (HOP_KICK * mapping.noise_std)
            zh, rh = _fit(fn, z + kick, e, HOP_ITERS, tol)
            if float(rh[0]) < r:
                z, r = zh, float(rh[0])
        return z, r

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
