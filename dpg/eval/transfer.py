"""Pose-guided person image generation, scored as the paper's Table 1 (section 4.3).

For every ``(from, to)`` pair of a pairs CSV the source image is encoded (foreground and
background embeddings) and decoded in the target's keypoints; the result is compared with the
real target image under a named protocol (``dpg.eval.metrics.PROTOCOLS``). The paper tested
12,800 random Market-1501 test pairs; the community's fixed list (``market-pairs-test.csv``,
12,000 pairs) is the usual stand-in, and the table says which file and how many pairs ran.

Runs are resumable: pairs are processed in chunks, each chunk's per-pair numbers (and the
Inception features or probabilities FID and IS need) are saved to ``OUT/chunks/`` as soon as
the chunk is done, and a rerun with the same settings skips the chunks on disk. The settings
(model fingerprint, pairs, protocol, metrics, mask) are kept in ``OUT/manifest.json``; a rerun
with other settings is refused rather than mixed in. Results: ``OUT/results.json`` and
``OUT/results.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from dpg.data.folder import list_images
from dpg.errors import UserError
from dpg.eval import metrics as M
from dpg.eval.networks import ALEXNET_WEIGHTS, INCEPTION_WEIGHTS

TABLE_COLUMNS = ("ssim", "is", "mask_ssim", "mask_is", "psnr", "l1", "fid", "lpips")
LABELS = {
    "ssim": "SSIM",
    "is": "IS",
    "mask_ssim": "mask-SSIM",
    "mask_is": "mask-IS",
    "psnr": "PSNR (dB)",
    "l1": "L1",
    "fid": "FID",
    "lpips": "LPIPS",
}
NEEDS_WEIGHTS = {"is": "--inception-weights", "mask_is": "--inception-weights", "lpips": "--lpips-weights"}
# Table 1 of the paper (TF Inception IS; mask-SSIM with the conditioning image's mask).
PAPER = {
    "market": {
        "PG² [21]": {"ssim": 0.253, "is": 3.460, "mask_ssim": 0.792, "mask_is": 3.435},
        "Ours": {"ssim": 0.099, "is": 3.483, "mask_ssim": 0.614, "mask_is": 3.491},
    },
    "deepfashion": {"PG² [21]": {"ssim": 0.762, "is": 3.090}, "Ours": {"ssim": 0.614, "is": 3.228}},
}
MASKS = {
    "target": "target keypoints (PATN's produce_ma_mask: limbs of half-width 4 px, joint disks r=4, 5x5 closing)",
    "source": "conditioning image's pose mask (mask_r6, as the authors' score_mask.py actually read)",
}


@dataclass
class TransferSettings:
    """What a run computes. ``metrics`` is a subset of ``TABLE_COLUMNS``."""

    protocol: str = "dpig"
    metrics: tuple[str, ...] = ()
    mask_from: str = "target"
    chunk: int = 256
    batch_size: int = 32
    fid_real: str | None = None  # a folder of real images (GFLA: the training set); default: the pairs' targets
    save_images: bool = False
    not_computed: dict = field(default_factory=dict)  # metric -> why


def choose_metrics(protocol: str, requested, inception_weights, lpips_weights) -> tuple[tuple[str, ...], dict]:
    """The metrics to compute and those of the protocol left out for want of weights.

    Explicitly requested metrics whose weights are missing are an error naming the file; the
    protocol's defaults are dropped with a note in the table (never silently)."""
    if protocol not in M.PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; choose one of {', '.join(M.PROTOCOLS)}")
    have = {"--inception-weights": inception_weights, "--lpips-weights": lpips_weights}

    files = {"--inception-weights": INCEPTION_WEIGHTS, "--lpips-weights": ALEXNET_WEIGHTS}
    if requested:
        bad = [m for m in requested if m not in TABLE_COLUMNS]
        if bad:
            raise UserError(f"unknown metric(s) {bad}; choose from {', '.join(TABLE_COLUMNS)}")
        for m in requested:
            opt = NEEDS_WEIGHTS.get(m)
            if opt and not have[opt]:
                raise UserError(f"{LABELS[m]} needs weights that cannot be downloaded here: pass {opt} PATH to {files[opt]}")
        return tuple(m for m in TABLE_COLUMNS if m in requested), {}
    chosen, skipped = [], {}
    for m in M.PROTOCOLS[protocol].metrics:
        opt = NEEDS_WEIGHTS.get(m)
        if opt and not have[opt]:
            skipped[m] = f"needs {opt} PATH ({files[opt]})"
        else:
            chosen.append(m)
    return tuple(m for m in TABLE_COLUMNS if m in chosen), skipped


def model_fingerprint(model) -> str:
    """sha256 of a model's state dict (names, shapes and values): a run's identity."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _save_npz(path: Path, **arrays) -> None:
    tmp = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


class TransferEvaluation:
    """One resumable evaluation run (module doc).

    Args:
        gen: a ``PersonGenerator``.
        dataset: a ``dpg.data.folder.PoseImageDataset`` at the model's size holding the pairs' images.
        pairs: ``(from, to)`` names.
        out: the run folder.
        settings: ``TransferSettings``; ``nets``: ``{"features", "classifier", "lpips"}``
            instances from ``dpg.eval.networks`` for the metrics that need them.
    """

    def __init__(self, gen, dataset, pairs, out, settings: TransferSettings, nets: dict, info: dict | None = None):
        self.gen, self.ds, self.pairs, self.out, self.s, self.nets = gen, dataset, list(pairs), Path(out), settings, nets
        self.info = dict(info or {})
        self.protocol = M.PROTOCOLS[settings.protocol]
        missing = sorted({n for p in self.pairs for n in p if n not in dataset.index})
        if missing:
            # the dataset holds the images that have both a file and an annotation row: say which is absent
            no_file = [n for n in missing if not os.path.exists(os.path.join(dataset.image_dir, n))]
            if no_file:
                raise UserError(f"{len(no_file)} images named in the pairs are not in {dataset.image_dir}: {no_file[:3]}")
            raise UserError(
                f"{len(missing)} images named in the pairs have no row in {dataset.annotation_csv}: "
                f"{missing[:3]}; use the annotation CSV that goes with the pairs file"
            )
        if not self.pairs:
            raise UserError("no pair to evaluate")

    def manifest(self) -> dict:
        pairs_hash = hashlib.sha256("\n".join(f"{a},{b}" for a, b in self.pairs).encode()).hexdigest()
        return {
            "version": 1,
            "model": model_fingerprint(self.gen.model),
            "pairs": pairs_hash,
            "num_pairs": len(self.pairs),
            "protocol": self.s.protocol,
            "metrics": list(self.s.metrics),
            "mask_from": self.s.mask_from,
            "chunk": self.s.chunk,
            "fid_real": self.s.fid_real,
        }

    def _check_manifest(self, restart: bool) -> None:
        path = self.out / "manifest.json"
        mine = self.manifest()
        chunks = self.out / "chunks"
        if path.exists() and not restart:
            old = json.loads(path.read_text())
            diff = [k for k in mine if old.get(k) != mine[k]]
            if diff:
                raise UserError(f"{self.out} holds a run with other settings ({', '.join(diff)}): use another --out, or --restart")
        if restart and chunks.exists():
            for f in chunks.glob("*.npz"):
                f.unlink()
        chunks.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(mine, indent=1))

    def run(self, restart: bool = False, progress: bool = True) -> dict:
        """Process the missing chunks, then aggregate; returns the results dict."""

        self._check_manifest(restart)
        n_chunks = -(-len(self.pairs) // self.s.chunk)
        todo = [c for c in range(n_chunks) if not self._chunk_path(c).exists()]
        for c in tqdm(todo, desc="chunks", unit="chunk", disable=not progress or not todo, file=sys.stderr):
            _save_npz(self._chunk_path(c), **self._compute(self.pairs[c * self.s.chunk : (c + 1) * self.s.chunk]))
        results = self.aggregate([np.load(self._chunk_path(c)) for c in range(n_chunks)])
        (self.out / "results.json").write_text(json.dumps(results, indent=1))
        (self.out / "results.md").write_text(markdown_table(results))
        return results

    def _chunk_path(self, c: int) -> Path:
        return self.out / "chunks" / f"{c:05d}.npz"

    def _compute(self, pairs) -> dict:
        """Generate one chunk and score it pair by pair."""
        ds, gen, p = self.ds, self.gen, self.protocol
        ia = [ds.index[a] for a, _ in pairs]
        ib = [ds.index[b] for _, b in pairs]
        src = np.stack([ds.read_image(i) for i in ia])
        tgt = np.stack([ds.read_image(i) for i in ib])
        kpa, kpb = ds.keypoints[ia], ds.keypoints[ib]
        fake = []
        for s in range(0, len(pairs), self.s.batch_size):
            f = gen.encode(src[s : s + self.s.batch_size], kpa[s : s + self.s.batch_size])
            fake.append(gen.compose(gen.with_pose(f, kpb[s : s + self.s.batch_size])))
        fake = np.concatenate(fake)
        h, w = gen.height, gen.width
        masks = [
            M.target_mask(k, h, w) if self.s.mask_from == "target" else M.conditioning_mask(k, h, w)
            for k in (kpb if self.s.mask_from == "target" else kpa)
        ]
        fake_m = np.stack([M.apply_mask(x, m) for x, m in zip(fake, masks)])
        tgt_m = np.stack([M.apply_mask(x, m) for x, m in zip(tgt, masks)])
        out = {"from": np.array([a for a, _ in pairs]), "to": np.array([b for _, b in pairs])}
        per_pair = {
            "ssim": lambda i: p.ssim(fake[i], tgt[i]),
            "mask_ssim": lambda i: p.mask_ssim(fake_m[i], tgt_m[i]),
            "psnr": lambda i: p.psnr(fake[i], tgt[i]),
            "l1": lambda i: M.l1_gray(fake[i], tgt[i]),
        }
        for m in self.s.metrics:
            if m in per_pair:
                out[m] = np.array([per_pair[m](i) for i in range(len(pairs))])
        if "is" in self.s.metrics:
            out["is_probs"] = self.nets["classifier"](fake).astype(np.float32)
        if "mask_is" in self.s.metrics:
            out["mask_is_probs"] = self.nets["classifier"](fake_m).astype(np.float32)
        if "fid" in self.s.metrics:
            out["fid_fake"] = self.nets["features"](fake)
            if self.s.fid_real is None:
                out["fid_real"] = self.nets["features"](tgt)
        if "lpips" in self.s.metrics:
            out["lpips"] = self.nets["lpips"](fake, tgt)
        if self.s.save_images:
            folder = self.out / "images"
            folder.mkdir(exist_ok=True)
            for (a, b), x in zip(pairs, fake):
                Image.fromarray(x).save(folder / f"{Path(a).stem}___{Path(b).stem}.png")
        return out

    def _real_features(self, chunks) -> np.ndarray:
        """Inception features of the FID reference: the targets (each image once) or a folder."""
        if self.s.fid_real is None:
            names = np.concatenate([c["to"] for c in chunks])
            feats = np.concatenate([c["fid_real"] for c in chunks])
            _, first = np.unique(names, return_index=True)
            return feats[np.sort(first)]
        return real_folder_features(self.s.fid_real, self.nets["features"], self.out / "fid_real.npz")

    def aggregate(self, chunks) -> dict:
        res = {
            "protocol": self.s.protocol,
            "protocol_description": self.protocol.description,
            "mask": MASKS[self.s.mask_from],
            "pairs_evaluated": int(sum(len(c["from"]) for c in chunks)),
            **self.info,
            "metrics": {},
            "not_computed": dict(self.s.not_computed),
        }
        for m in self.s.metrics:
            if m in ("ssim", "mask_ssim", "l1", "lpips"):
                v = np.concatenate([c[m] for c in chunks])
                res["metrics"][m] = {"mean": float(v.mean()), "std": float(v.std())}
            elif m == "psnr":
                mean, inf = M.mean_finite(np.concatenate([c[m] for c in chunks]))
                res["metrics"][m] = {"mean": mean, "identical_pairs_left_out": inf}
            elif m in ("is", "mask_is"):
                probs = np.concatenate([c[f"{m}_probs"] for c in chunks]).astype(np.float64)
                mean, std = M.inception_score(probs / probs.sum(1, keepdims=True), splits=min(10, len(probs)))
                res["metrics"][m] = {"mean": mean, "std": std, "splits": min(10, len(probs))}
            elif m == "fid":
                fake = np.concatenate([c["fid_fake"] for c in chunks])
                real = self._real_features(chunks)
                ref = self.s.fid_real or "the pairs' target images"
                res["metrics"][m] = {"value": M.frechet_distance_of(fake, real), "reference": ref, "real_images": len(real)}
        return res


def real_folder_features(folder: str, features, cache: Path) -> np.ndarray:
    """Inception features of every image in ``folder`` (any sizes), cached in ``cache``."""

    names = list_images(folder)
    key = hashlib.sha256(("\n".join(names) + os.path.abspath(folder)).encode()).hexdigest()
    if cache.exists():
        old = np.load(cache)
        if str(old["key"]) == key:
            return old["features"]
    if len(names) < 2:
        raise UserError(f"the FID reference folder {folder} needs at least 2 images")
    feats = [features(np.asarray(Image.open(os.path.join(folder, n)).convert("RGB"))[None]) for n in names]
    out = np.concatenate(feats)
    _save_npz(cache, key=np.array(key), features=out)
    return out


def _fmt(entry: dict | None, key: str) -> str:
    if entry is None:
        return "–"
    if key in ("is", "mask_is"):
        return f"{entry['mean']:.3f} ± {entry['std']:.3f}"
    if key == "fid":
        return f"{entry['value']:.2f}"
    if key == "psnr":
        return f"{entry['mean']:.2f}"
    return f"{entry['mean']:.3f}"


def markdown_table(res: dict) -> str:
    """Results as Table 1 (paper rows shown under the ``dpig`` protocol they come from)."""
    dataset = res.get("dataset", "market")
    paper = PAPER.get(dataset, {}) if res["protocol"] == "dpig" else {}
    shown = [c for c in TABLE_COLUMNS if c in res["metrics"] or any(c in row for row in paper.values())]
    count = f"{res['pairs_evaluated']} pairs"
    if res.get("pairs_in_file", res["pairs_evaluated"]) != res["pairs_evaluated"]:
        count += f" of the {res['pairs_in_file']} in the file"
    lines = [
        f"### Pose transfer on {dataset} ({count})",
        "",
        f"Protocol `{res['protocol']}`: {res['protocol_description']}. Masks from the {res['mask']}.",
    ]
    for key in ("checkpoint", "pairs_file"):
        if res.get(key):
            lines.append(f"{key.replace('_', ' ').capitalize()}: `{res[key]}`.")
    lines += ["", "| Model | " + " | ".join(LABELS[c] for c in shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for name, row in paper.items():
        lines.append(f"| {name} (paper, Table 1) | " + " | ".join(f"{row[c]:.3f}" if c in row else "–" for c in shown) + " |")
    lines.append("| dpg (this run) | " + " | ".join(_fmt(res["metrics"].get(c), c) for c in shown) + " |")
    notes = []
    if paper:
        notes.append("Paper rows: IS from TF Inception; their mask-SSIM used the conditioning image's mask.")
    if "fid" in res["metrics"]:
        f = res["metrics"]["fid"]
        notes.append(f"FID against {f['reference']} ({f['real_images']} real images).")
    if "psnr" in res["metrics"] and res["metrics"]["psnr"]["identical_pairs_left_out"]:
        notes.append(f"PSNR leaves out {res['metrics']['psnr']['identical_pairs_left_out']} pairs with identical images (infinite PSNR).")
    for m, why in res.get("not_computed", {}).items():
        notes.append(f"{LABELS[m]} not computed: {why}.")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def resolve_data(root: str, dataset: str, images=None, annotations=None, pairs=None) -> tuple[str, str, str]:
    """Default test-split paths of a Market-1501 or DeepFashion folder (see ``dpg.data``)."""
    if dataset == "market":
        dirs, csv, pcsv = ("bounding_box_test", "test"), "market-annotation-test.csv", "market-pairs-test.csv"
    elif dataset == "deepfashion":
        dirs, csv, pcsv = ("test",), "fasion-annotation-test.csv", "fasion-pairs-test.csv"
    else:
        raise UserError(f"unknown dataset {dataset!r}: market or deepfashion")
    if images is None:
        found = [os.path.join(root, d) for d in dirs if os.path.isdir(os.path.join(root, d))]
        if not found:
            raise UserError(f"no test image folder under {root} (looked for {', '.join(dirs)}); pass --images DIR")
        images = found[0]
    return images, annotations or os.path.join(root, csv), pairs or os.path.join(root, pcsv)
