"""``dpg sample | swap | transfer | interpolate | invert | virtual-market``: the generation API
(``dpg.inference.PersonGenerator``) on the command line. Every command writes files under
``--out`` and takes ``--checkpoint`` (default: the bundled weights; a path or a Hub repo id).

People on the command line are photos (``PHOTO``, the person found by mediapipe) or
``IMAGE@KEYPOINTS`` pairs: an image already at the model's size with a keypoint file
(``dpg keypoints --json`` output or an OpenPose JSON).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from dpg.argtypes import count, seed
from dpg.data.annotations import read_annotation_csv, write_annotation_csv
from dpg.errors import UserError
from dpg.inference import PersonGenerator
from dpg.inversion import MAX_REFINE
from dpg.pose.formats import openpose_to_keypoints
from dpg.pose.images import load_image

# Written PNGs are upscaled at most this much (a 128x64 person at 16x is 2048x1024 pixels).
MAX_SCALE = 16
# `dpg sample -n` at most (one PNG each) and how many are composed at once (bounded memory).
MAX_SAMPLES = 100_000
SAMPLE_BATCH = 64


def _generator(args):

    return PersonGenerator.from_checkpoint(args.checkpoint, args.device)


def _hops(p):
    """``--hops`` of the commands that invert a person (``PersonGenerator.invert``)."""
    p.add_argument(
        "--hops",
        type=count(0),
        default=20,
        help="basin hops after the fit while above 1%% (kick, refit up to 300 iterations, keep if better; "
        "default %(default)s: about 20 s more a photo on a CPU; 0 is fastest)",
    )


def _refine(p):
    """``--refine`` of the commands that edit photos (``PersonGenerator.encode(..., refine=K)``)."""
    p.add_argument(
        "--refine",
        type=count(0, MAX_REFINE),
        default=0,
        help="fit each person's foreground and background embeddings to their photo for this many steps, "
        "the decoder frozen: truer colours (held-out pedestrians: 3.0 -> about 2.1 CIELAB units at 150), "
        "about 0.04 s a step a person on 2 CPU cores (default 0: the encoders' embeddings)",
    )


def _common(p):
    p.add_argument(
        "--checkpoint",
        default=None,
        help="weights: a .safetensors path, a Hub repo id, or a bundled model by name: real (the default) or procedural",
    )
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")


def _save(images: np.ndarray, out: Path, stem: str, scale: int = 1) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        path = out / (f"{stem}.png" if len(images) == 1 else f"{stem}-{i:03d}.png")
        pil = Image.fromarray(img)
        if scale > 1:
            pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
        pil.save(path)
        paths.append(path)
    return paths


def _strip(images: np.ndarray) -> np.ndarray:
    return np.concatenate(list(images), axis=1)


def read_keypoints(path: str) -> np.ndarray:
    """Keypoints ``[18, 3]`` from ``dpg keypoints --json`` output or an OpenPose JSON."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read keypoints from {path}: {err}") from None
    except RecursionError:  # 100,000 nested brackets
        raise UserError(f"{path} nests its lists too deeply to be a keypoints file") from None
    if isinstance(data, list):
        data = data[0] if data else {}
    if isinstance(data, dict) and "keypoints" in data:
        if _holds_bool(data["keypoints"]):
            raise UserError(f"{path}: 'keypoints' holds true/false where numbers belong; rows are [x, y, visible] numbers")
        try:
            kp = np.asarray(data["keypoints"], dtype=np.float32)
        except (TypeError, ValueError):  # text, or rows of different lengths
            raise UserError(f"{path}: 'keypoints' must be 18 rows of 3 numbers [x, y, visible]") from None
        if kp.shape != (18, 3):
            raise UserError(f"{path}: 'keypoints' must be 18 rows of [x, y, visible], got shape {kp.shape}")
        if not np.isfinite(kp).all():
            raise UserError(f"{path}: 'keypoints' holds NaN or infinite values; missing joints are [0, 0, 0]")
        return kp
    if isinstance(data, dict) and "people" in data:
        people = np.asarray(openpose_to_keypoints(data), dtype=np.float32).reshape(-1, 18, 3)
        if not len(people):
            raise UserError(f"{path}: the OpenPose file lists no person")
        return people[0]
    raise UserError(f"{path} is neither a dpg keypoints file nor an OpenPose JSON")


def _holds_bool(value, depth: int = 0) -> bool:
    if isinstance(value, bool):
        return True
    return isinstance(value, list) and depth < 3 and any(_holds_bool(v, depth + 1) for v in value)


def load_person(gen, spec: str, refine: int = 0):
    """A person on the command line -> ``(Factors of one, crop uint8, keypoints [18, 3],
    PhotoPerson or None)``: the last for a photo (``dpg.photo``), None for IMAGE@KEYPOINTS.
    ``refine``: ``PersonGenerator.encode``'s steps fitting the embeddings to the photo."""
    if "@" in spec and not os.path.exists(spec):
        image_path, kp_path = spec.split("@", 1)

        image = load_image(image_path)
        kp = read_keypoints(kp_path)
        if image.shape[:2] != (gen.height, gen.width):
            raise UserError(
                f"{image_path} is {image.shape[0]}x{image.shape[1]}; IMAGE@KEYPOINTS needs a {gen.height}x{gen.width} image (pass a photo alone to crop it)"
            )
        return gen.encode(image[None], kp[None], refine), image, kp, None
    person = gen.find_person(spec)
    return gen.encode(person.crop[None], person.keypoints[None], refine), person.crop, person.keypoints, person


def _photo_result(gen, args, person, factors, changed, background=None) -> tuple[np.ndarray, int]:
    """The result to write: at the photo's pixels (``PersonGenerator.on_photo``) unless
    ``--model-size`` or the person came as IMAGE@KEYPOINTS; ``(image, upscaling)``."""
    if args.model_size or person is None:
        return gen.compose(factors)[0], args.scale
    return gen.on_photo(person, factors, changed, background), 1


# ----------------------------------------------------------------------------------------


def cmd_sample(args) -> int:
    gen = _generator(args)
    n = args.n
    seeds = {f: [getattr(args, f"{f}_seed") + i * (f not in args.fix) for i in range(n)] for f in ("fg", "bg", "pose")}
    if "bg" not in gen.factors:
        seeds["bg"] = None
    out = Path(args.out)
    paths, strip = [], []
    for lo in range(0, n, SAMPLE_BATCH):  # bounded memory whatever -n is
        part = {f: None if v is None else v[lo : lo + SAMPLE_BATCH] for f, v in seeds.items()}
        images = gen.compose(gen.sample(fg=part["fg"], bg=part["bg"], pose=part["pose"]))
        for i, img in enumerate(images):
            stem = "sample" if n == 1 else f"sample-{lo + i:0{max(3, len(str(n - 1)))}d}"
            paths += _save(img[None], out, stem, args.scale)
        if lo == 0:
            strip = images[:SAMPLE_BATCH]
    _save(_strip(strip)[None], out, "sample-strip", args.scale)
    print(f"wrote {len(paths)} samples to {args.out}" + (f" (the strip shows the first {len(strip)})" if n > len(strip) else ""))
    return 0


def cmd_swap(args) -> int:
    gen = _generator(args)
    a, crop_a, _, person_a = load_person(gen, args.a, args.refine)
    b, crop_b, _, person_b = load_person(gen, args.b, args.refine)
    if args.parts:
        out, changed = gen.swap_parts(a, b, args.parts), {"fg"}
    else:
        out, changed = gen.swap(a, b, args.factors), set(args.factors)
    image, scale = _photo_result(gen, args, person_a, out, changed, person_b)
    _save(image[None], Path(args.out), "swap", scale)
    _save(_strip(np.stack([crop_a, crop_b, gen.compose(out)[0]]))[None], Path(args.out), "swap-strip", args.scale)
    size = f"{image.shape[1]}x{image.shape[0]}"
    print(f"wrote {args.out}/swap.png ({size}; A, B and the model's output in swap-strip.png)")
    return 0


def cmd_transfer(args) -> int:
    gen = _generator(args)
    a, crop_a, _, person_a = load_person(gen, args.a, args.refine)
    if args.pose_json:
        kp = read_keypoints(args.pose_json)
    else:
        kp = load_person(gen, args.pose)[2]
    image, scale = _photo_result(gen, args, person_a, gen.with_pose(a, kp[None]), {"pose"})
    _save(image[None], Path(args.out), "transfer", scale)
    print(f"wrote {args.out}/transfer.png ({image.shape[1]}x{image.shape[0]})")
    return 0


def _write_gif(frames: np.ndarray, path: Path, scale: int, ms: int = 120) -> None:
    pil = [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in frames]
    pil = pil + pil[-2:0:-1]  # there and back, so the loop has no jump
    pil[0].save(path, save_all=True, append_images=pil[1:], duration=ms, loop=0)


def cmd_interpolate(args) -> int:
    if bool(args.a) != bool(args.b):
        raise UserError("--a and --b go together (two people to interpolate between); give both, or neither for seeds")
    gen = _generator(args)
    factors = gen.factors if args.factor == "all" else (args.factor,)
    if args.a and args.b:
        a = load_person(gen, args.a)[0]
        b = load_person(gen, args.b)[0]
        fac, ia, ib = gen.inverse_interpolate(a, b, args.steps, args.method, factors, hops=args.hops)
        print(
            "inversion residuals (|Phi(z) - e| / |e|): "
            + ", ".join(f"{f} {float(ia.residual[f][0]):.3f}/{float(ib.residual[f][0]):.3f}" for f in ia.z)
        )
    else:
        z1 = {f: gen.noise(f, [args.seed_a])[0] for f in gen.factors}
        z2 = {f: gen.noise(f, [args.seed_b])[0] for f in gen.factors}
        fac = gen.interpolate(z1, z2, args.steps, args.method, factors)
    frames = gen.compose(fac)
    out = Path(args.out)
    _save(_strip(frames)[None], out, "interpolation", args.scale)
    _write_gif(frames, out / "interpolation.gif", args.scale)
    print(f"wrote {out}/interpolation.png and {out}/interpolation.gif ({args.steps} steps, {args.method}, {','.join(factors)})")
    return 0


def cmd_invert(args) -> int:
    gen = _generator(args)
    a, crop = load_person(gen, args.a)[:2]
    inv = gen.invert(a, iters=args.iters, hops=args.hops)
    fac = gen.interpolate({f: inv.z[f][0] for f in inv.z}, {f: inv.z[f][0] for f in inv.z}, 1)
    recon = gen.compose(gen.encode(crop[None], a.keypoints.cpu().numpy()))
    image = gen.compose(fac)
    out = Path(args.out)
    _save(_strip(np.stack([crop, recon[0], image[0]]))[None], out, "invert", args.scale)
    np.savez(out / "z.npz", **{f: inv.z[f].cpu().numpy() for f in inv.z})
    for f in inv.z:
        print(f"{f}: residual {float(inv.residual[f][0]):.4f} of the embedding norm")
    print(f"wrote {out}/invert.png (input, reconstruction, from noise) and {out}/z.npz")
    return 0


def cmd_virtual_market(args) -> int:

    gen = _generator(args)
    out = Path(args.out) / "bounding_box_train"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    real_poses = None
    if args.poses:
        _, real_poses = read_annotation_csv(args.poses, (gen.height, gen.width))
        real_poses = real_poses[real_poses[..., 2].sum(-1) >= 8]  # people, not fragments
        if not len(real_poses):
            raise UserError(f"{args.poses}: no row has 8 or more joints; nothing to pose people with")
    names, kps = [], []
    for ident in tqdm(range(args.identities), unit="id"):
        m = args.per_identity
        fg = [(args.seed * 100_003 + ident) % 2**63] * m  # any --seed: a valid generator seed
        bg = [int(s) for s in rng.integers(0, 2**31, m)] if "bg" in gen.factors else None
        if real_poses is not None:
            kp = real_poses[rng.integers(0, len(real_poses), m)]
            factors = gen.with_pose(gen.sample(fg=fg, bg=bg, pose=[0] * m), kp)
        else:
            factors = gen.sample(fg=fg, bg=bg, pose=[int(s) for s in rng.integers(0, 2**31, m)])
        images = gen.compose(factors)
        for k, img in enumerate(images):
            cam = int(rng.integers(1, 7))
            name = f"{ident + 1:04d}_c{cam}s1_{k:06d}_01.jpg"
            Image.fromarray(img).save(out / name, quality=95)
            names.append(name)
            kps.append(factors.keypoints[k].cpu().numpy())
    write_annotation_csv(Path(args.out) / "market-annotation-train.csv", names, np.stack(kps))
    print(f"wrote {len(names)} images of {args.identities} identities to {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sample", help="sample people from noise, one seed per factor")
    _common(p)
    p.add_argument(
        "-n",
        type=count(1, MAX_SAMPLES),
        default=8,
        help=f"how many people (default 8, at most {MAX_SAMPLES:,}; composed {SAMPLE_BATCH} at a time)",
    )
    p.add_argument("--fg-seed", type=seed, default=0)
    p.add_argument("--bg-seed", type=seed, default=0)
    p.add_argument("--pose-seed", type=seed, default=0)
    p.add_argument("--fix", nargs="*", default=[], choices=["fg", "bg", "pose"], help="factors kept the same across the n people")
    p.add_argument("--scale", type=count(1, MAX_SCALE), default=2, help="nearest-neighbour upscaling of the written PNGs")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("swap", help="take factors (or body parts) of person B into person A")
    _common(p)
    p.add_argument("a", help="PHOTO or IMAGE@KEYPOINTS.json")
    p.add_argument("b", help="PHOTO or IMAGE@KEYPOINTS.json")
    p.add_argument("--factors", nargs="+", default=["bg"], choices=["fg", "bg", "pose"])
    p.add_argument("--parts", nargs="+", default=None, help="swap body-ROI embeddings instead, e.g. upper_body")
    p.add_argument("--scale", type=count(1, MAX_SCALE), default=2, help="upscaling of the model-size PNGs")
    p.add_argument(
        "--model-size",
        action="store_true",
        help="write the model's own output (128x64, upscaled by --scale) instead of the edit at the photo's resolution",
    )
    _refine(p)
    p.set_defaults(func=cmd_swap)

    p = sub.add_parser("transfer", help="pose transfer: A's appearance in another pose")
    _common(p)
    p.add_argument("a", help="PHOTO or IMAGE@KEYPOINTS.json")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--pose", help="a PHOTO (or IMAGE@KEYPOINTS.json) whose pose to use")
    g.add_argument("--pose-json", help="a keypoints file (dpg keypoints --json, or OpenPose JSON) in the model's pixels")
    p.add_argument("--scale", type=count(1, MAX_SCALE), default=2, help="upscaling of the model-size PNGs")
    p.add_argument(
        "--model-size",
        action="store_true",
        help="write the model's own output (128x64, upscaled by --scale) instead of the edit at the photo's resolution",
    )
    _refine(p)
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("interpolate", help="interpolate between two seeds, or two people (inverse interpolation)")
    _common(p)
    p.add_argument("--seed-a", type=seed, default=0)
    p.add_argument("--seed-b", type=seed, default=1)
    p.add_argument("--a", help="PHOTO or IMAGE@KEYPOINTS.json (with --b: inverse interpolation)")
    p.add_argument("--b")
    p.add_argument("--factor", default="all", choices=["all", "fg", "bg", "pose"])
    p.add_argument("--steps", type=count(2), default=8)
    p.add_argument("--method", default="lerp", choices=["lerp", "slerp"])
    _hops(p)
    p.add_argument("--scale", type=count(1, MAX_SCALE), default=2)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("invert", help="find the noise codes of a person (section 4.4)")
    _common(p)
    p.add_argument("a", help="PHOTO or IMAGE@KEYPOINTS.json")
    p.add_argument(
        "--iters", type=count(1), default=1000, help="L-BFGS iterations of the fit, at most (rounds of 100; each hop adds its own)"
    )
    _hops(p)
    p.add_argument("--scale", type=count(1, MAX_SCALE), default=2)
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("virtual-market", help="a Virtual Market re-ID set in Market-1501 layout (section 4.6)")
    _common(p)
    p.add_argument("--identities", type=count(1), default=500)
    p.add_argument("--per-identity", type=count(1), default=24)
    p.add_argument("--poses", default=None, help="annotation CSV of real poses (default: sampled poses)")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(func=cmd_virtual_market)
