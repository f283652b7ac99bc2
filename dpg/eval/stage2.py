"""How well stage II's mapping functions match the embedding distributions (section 3.2).

Stage II maps Gaussian noise to each factor's embedding space; the paper judges it by eye
(Fig. 7) and by re-ID. Two direct checks:

* **Fréchet distance per factor** between sampled embeddings ``Phi(z)`` and real ones (stage-I
  embeddings of held-out people; for pose, the pose auto-encoder's codes of real keypoints),
  next to two baselines from the same run and the same ``z``: the raw noise ``z`` itself
  and an untrained mapping (a fresh initialisation with the same seed). A trained mapping
  should be far closer than both.
* **Pose plausibility**: sampled poses (``Phi(z)`` decoded by the pose auto-encoder) against
  the range of real poses: limb-length ratios (each bone over the torso, neck to mid-hip),
  joint angles (shoulders, elbows, hips, knees) and the torso's tilt, each inside the real
  poses' central range; and the visibility pattern of the 14 body joints (nose to ankles),
  which must occur among the real poses. A pose is plausible when all three hold. Real poses
  are split 80/20 (``split_real``): ranges come from the 80%, and the held-out 20% give the
  rate a real pose reaches (the ceiling to compare with).

  The range is calibrated for the whole test, not per feature: a real pose must pass all 20
  features at once, so per-feature 0.5-99.5 percentiles would reject about 20 x 1% of real
  poses (they rejected 14% of held-out Market poses). ``false_reject`` (1%) is split over
  the 20 features and both tails (Bonferroni): each feature's range runs from its 0.025th
  to its 99.975th percentile, and about 1% of real poses fail on their geometry.
"""

from __future__ import annotations

import numpy as np
import torch

from dpg.eval.metrics import frechet_distance_of
from dpg.mapping import build_mapping

BONES = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (11, 12), (12, 13), (1, 0))
# (a, b, c): the angle at b between b->a and b->c.
ANGLES = ((1, 2, 3), (2, 3, 4), (1, 5, 6), (5, 6, 7), (2, 8, 9), (8, 9, 10), (5, 11, 12), (11, 12, 13))
BODY_JOINTS = 14


def pose_features(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keypoints ``[N, 18, 3]`` -> length ratios ``[N, 11]``, angles ``[N, 9]`` (8 joint angles
    in radians and the torso tilt from vertical, signed) and the body-joint visibility pattern
    ``[N]`` (an integer bit mask). Undefined values (a joint missing) are NaN."""
    kp = np.asarray(keypoints, dtype=np.float64)
    xy, vis = kp[..., :2], kp[..., 2] > 0.5

    def seg(a, b):
        ok = vis[:, a] & vis[:, b]
        return np.where(ok[:, None], xy[:, b] - xy[:, a], np.nan)

    n_hips = vis[:, [8, 11]].sum(1, keepdims=True)  # [N, 1]
    hip_sum = (xy[:, [8, 11]] * vis[:, [8, 11], None]).sum(1)
    mid_hip = np.where(n_hips > 0, hip_sum / np.maximum(n_hips, 1), np.nan)  # [N, 2]
    torso = np.where(vis[:, 1:2], mid_hip - xy[:, 1], np.nan)  # [N, 2]
    torso_len = np.linalg.norm(torso, axis=1)
    torso_len = np.where(torso_len > 0, torso_len, np.nan)
    lengths = np.stack([np.linalg.norm(seg(a, b), axis=1) / torso_len for a, b in BONES], 1)  # [N, 11]
    angles = []
    for a, b, c in ANGLES:
        u, v = seg(b, a), seg(b, c)
        with np.errstate(invalid="ignore", divide="ignore"):  # a zero-length bone: NaN, undefined
            cos = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
        angles.append(np.arccos(np.clip(cos, -1, 1)))
    angles.append(np.arctan2(torso[:, 0], torso[:, 1]))  # 0 = the hips straight below the neck
    pattern = (vis[:, :BODY_JOINTS] * (1 << np.arange(BODY_JOINTS))).sum(1)
    return lengths, np.stack(angles, 1), pattern


class PoseRanges:
    """The central range of each feature of real poses (``false_reject`` split over the
    features and both tails) and the real poses' visibility patterns."""

    def __init__(self, real: np.ndarray, false_reject: float = 0.01):
        lengths, angles, pattern = pose_features(real)
        tail = 100 * false_reject / (2 * (lengths.shape[1] + angles.shape[1]))  # percent per tail, 0.025
        self.length_range = np.nanpercentile(lengths, [tail, 100 - tail], axis=0)  # [2, 11]
        self.angle_range = np.nanpercentile(angles, [tail, 100 - tail], axis=0)  # [2, 9]
        self.patterns = set(pattern.tolist())

    @staticmethod
    def _inside(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        ok = (values >= bounds[0]) & (values <= bounds[1])
        return (ok | np.isnan(values)).all(1)  # an undefined feature is judged by visibility

    def check(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        """bool ``[N]`` per test: ``lengths``, ``angles``, ``visibility`` and ``plausible`` (all)."""
        lengths, angles, pattern = pose_features(keypoints)
        out = {
            "lengths": self._inside(lengths, self.length_range),
            "angles": self._inside(angles, self.angle_range),
            "visibility": np.array([p in self.patterns for p in pattern.tolist()], dtype=bool),
        }
        out["plausible"] = out["lengths"] & out["angles"] & out["visibility"]
        return out


def split_real(real: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Real poses split 80/20 at random: the ranges' fit set and the held-out ceiling set."""
    order = np.random.default_rng(seed).permutation(len(real))
    cut = int(0.8 * len(real))
    return real[order[:cut]], real[order[cut:]]


def pose_plausibility(fit: np.ndarray, candidates: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Rates of each test (``PoseRanges.check``) for each named set of poses, with the ranges
    taken from the real poses ``fit``."""
    ranges = PoseRanges(fit)
    return {name: {k: float(v.mean()) for k, v in ranges.check(kp).items()} for name, kp in candidates.items()}


def _fresh_mapping(model, factor: str, seed: int):
    """The factor's mapping network freshly initialised from ``seed`` (the untrained baseline)."""

    m = model.stage2.mappings[factor]
    torch.manual_seed(seed)
    return build_mapping(model.cfg.mapping, factor, m.dim).to(next(m.parameters()).device).eval()


@torch.no_grad()
def stage2_samples(gen, real_factors: dict[str, np.ndarray], n: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per factor: ``real`` (given), ``sampled`` ``Phi(z)``, ``noise`` ``z`` and ``untrained``
    ``Phi_0(z)``, each ``[n, K]``, all from one ``z`` per factor drawn with ``seed``."""
    out = {}
    for f, real in real_factors.items():
        mapping = gen.model.stage2.mappings[f]
        z = mapping.noise(n, torch.Generator().manual_seed(seed), device=gen.device)
        out[f] = {
            "real": np.asarray(real, np.float64),
            "sampled": mapping(z).double().cpu().numpy(),
            "noise": z.double().cpu().numpy(),
            "untrained": _fresh_mapping(gen.model, f, seed)(z).double().cpu().numpy(),
        }
    return out


def frechet_table(samples: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """``{factor: {sampled, noise, untrained}}`` Fréchet distances to the real embeddings."""
    return {f: {k: frechet_distance_of(s[k], s["real"]) for k in ("sampled", "noise", "untrained")} for f, s in samples.items()}


@torch.no_grad()
def real_embeddings(gen, people: list, keypoints: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Stage-I embeddings of rendered people (``fg``, ``bg``) and pose codes of ``keypoints``."""
    images = np.stack([r.image for r in people])
    kps = np.stack([r.keypoints for r in people])
    fg, bg = [], []
    for s in range(0, len(people), batch_size):
        f = gen.encode(images[s : s + batch_size], kps[s : s + batch_size])
        fg.append(f.fg.cpu().numpy())
        if f.bg is not None:
            bg.append(f.bg.cpu().numpy())
    out = {"fg": np.concatenate(fg)}
    if bg:
        out["bg"] = np.concatenate(bg)
    kp = torch.as_tensor(np.asarray(keypoints, np.float32), device=gen.device)
    out["pose"] = gen.model.encode_pose(kp).cpu().numpy()
    return {f: v for f, v in out.items() if f in gen.factors}


@torch.no_grad()
def decode_poses(gen, codes: np.ndarray) -> np.ndarray:
    """Pose codes ``[N, K]`` -> keypoints ``[N, 18, 3]`` through the pose auto-encoder's decoder."""
    c = torch.as_tensor(np.asarray(codes, np.float32), device=gen.device)
    return gen.model.decode_pose(c).cpu().numpy()
