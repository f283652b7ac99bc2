"""Person re-identification as a measure of the model (paper section 4.6, Table 2).

Two ways, as the paper:

1. **Embedding features** (Table 2, top): the stage-I foreground embedding of each image is
   its descriptor; l2-normalised and compared by Euclidean distance (after [6]); optionally
   projected on its first principal components ("BodyROI7 feature PCA"), fitted on the train
   split, and l2-normalised again.
2. **Virtual Market** (Table 2, bottom): a re-ID network trained on generated identities
   (``dpg virtual-market``) describes real images (``dpg.eval.reid_net``).

Either way the descriptors are ranked under the Market-1501 protocol (Zheng et al. 2015):
queries from ``query/``, the gallery ``bounding_box_test/`` with junk (id -1) ignored, and
gallery images of the query's identity taken by the query's camera ignored
(``dpg.data.market.reid_gallery_mask``); distractors (id 0000) stay as wrong matches.
Rank-k is the fraction of queries whose first true match is within the top k; AP is
Market's ``compute_AP`` (trapezoidal precision, starting from precision 1 at recall 0);
queries without any true match in their gallery are left out and counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from dpg.data.annotations import read_annotation_csv
from dpg.data.folder import list_images
from dpg.data.market import parse_market_name, reid_gallery_mask
from dpg.errors import UserError


@dataclass(frozen=True)
class RankingResult:
    """Rank-1/5/10, mAP and the CMC curve ``[G]`` over ``queries`` evaluated queries
    (``skipped``: queries without a true match in their gallery)."""

    rank1: float
    rank5: float
    rank10: float
    mAP: float
    cmc: np.ndarray
    queries: int
    skipped: int

    def as_dict(self) -> dict:
        return {
            "rank1": self.rank1,
            "rank5": self.rank5,
            "rank10": self.rank10,
            "mAP": self.mAP,
            "queries": self.queries,
            "skipped": self.skipped,
        }


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def euclidean_distances(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``[Q, D]`` and ``[G, D]`` -> squared-free Euclidean distances ``[Q, G]``."""
    d2 = (q**2).sum(1)[:, None] + (g**2).sum(1)[None, :] - 2 * q @ g.T
    return np.sqrt(np.maximum(d2, 0))


def average_precision(matches: np.ndarray) -> float:
    """AP of one ranked list of bool ``matches`` (junk already removed), as Market-1501's
    ``compute_AP``: the area under precision-recall by trapezoids, precision 1 at recall 0."""
    hits = np.flatnonzero(matches)
    if len(hits) == 0:
        return 0.0
    k = np.arange(1, len(hits) + 1)
    precision = k / (hits + 1)  # after the k-th true match, at list position hits[k-1]
    old_precision = np.where(hits > 0, (k - 1) / np.maximum(hits, 1), 1.0)  # just before it
    return float(((old_precision + precision) / 2).sum() / len(hits))


def rank_gallery(
    distances: np.ndarray,
    query_ids: np.ndarray,
    query_cams: np.ndarray,
    gallery_ids: np.ndarray,
    gallery_cams: np.ndarray,
) -> RankingResult:
    """Market-1501 evaluation of a distance matrix ``[Q, G]`` (module doc). Ties keep the
    gallery order (a stable sort), so results are deterministic."""
    distances = np.asarray(distances, dtype=np.float64)
    q_ids, q_cams = np.asarray(query_ids), np.asarray(query_cams)
    g_ids, g_cams = np.asarray(gallery_ids), np.asarray(gallery_cams)
    if distances.shape != (len(q_ids), len(g_ids)):
        raise ValueError(f"distances {distances.shape} do not match {len(q_ids)} queries x {len(g_ids)} gallery images")
    cmc = np.zeros(len(g_ids))
    aps, skipped = [], 0
    for i in range(len(q_ids)):
        keep = reid_gallery_mask(int(q_ids[i]), int(q_cams[i]), g_ids, g_cams)
        order = np.argsort(distances[i], kind="stable")
        order = order[keep[order]]
        matches = g_ids[order] == q_ids[i]
        if not matches.any():
            skipped += 1
            continue
        first = int(np.argmax(matches))
        cmc[first:] += 1
        aps.append(average_precision(matches))
    n = len(aps)
    if n == 0:
        raise UserError("no query has a true match in its gallery: wrong query or gallery folder?")
    cmc = cmc / n
    r1, r5, r10 = (float(cmc[min(k, len(cmc)) - 1]) for k in (1, 5, 10))
    return RankingResult(r1, r5, r10, float(np.mean(aps)), cmc, n, skipped)


def evaluate_descriptors(query: np.ndarray, gallery: np.ndarray, q_ids, q_cams, g_ids, g_cams) -> RankingResult:
    """l2-normalise, Euclidean distance, Market ranking (the paper's re-ID protocol)."""
    return rank_gallery(euclidean_distances(l2_normalise(query), l2_normalise(gallery)), q_ids, q_cams, g_ids, g_cams)


class PCA:
    """Principal components of l2-normalised descriptors ``[N, D]``: ``transform`` centres,
    projects on the first ``k`` and l2-normalises again."""

    def __init__(self, descriptors: np.ndarray, k: int):
        x = l2_normalise(descriptors)
        if not 1 <= k <= min(x.shape):
            raise UserError(f"PCA to {k} dimensions needs at least {k} descriptors of at least {k} dimensions, got {list(x.shape)}")
        self.mean = x.mean(0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.components = vt[:k]  # [k, D]

    def transform(self, descriptors: np.ndarray) -> np.ndarray:
        return l2_normalise((l2_normalise(descriptors) - self.mean) @ self.components.T)


# ----------------------------------------------------------------------------------------
# Market folders


def market_folder(root: str, name: str) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """``(folder, names, ids, cameras)`` of the images of ``root/name`` (sorted by name; any
    Market-1501 file name, junk and distractors included)."""

    folder = os.path.join(root, name)
    names = list_images(folder)
    if not names:
        raise UserError(f"{folder} holds no image")
    parsed = [parse_market_name(n) for n in names]
    return folder, names, np.array([p.person for p in parsed]), np.array([p.camera for p in parsed])


def embedding_descriptors(gen, image_dir: str, annotation_csv: str, names: list[str], batch_size: int = 64) -> np.ndarray:
    """Foreground embeddings ``[N, fg_dim]`` of the named images (keypoints from the CSV).

    Images without any keypoint get a zero descriptor (they rank last for every query)."""

    csv_names, keypoints = read_annotation_csv(annotation_csv, (gen.height, gen.width))
    index = {n: i for i, n in enumerate(csv_names)}
    absent = [n for n in names if n not in index]
    if absent:
        raise UserError(f"{len(absent)} images of {image_dir} have no keypoints in {annotation_csv}, e.g. {absent[:3]}")
    out = np.zeros((len(names), gen.cfg.model.fg_dim), np.float32)
    for s in range(0, len(names), batch_size):
        chunk = names[s : s + batch_size]
        kp = keypoints[[index[n] for n in chunk]]
        has = kp[..., 2].sum(1) > 0
        if not has.any():
            continue
        images = np.stack([np.asarray(Image.open(os.path.join(image_dir, n)).convert("RGB")) for n, h in zip(chunk, has) if h])
        fg = gen.encode(images, kp[has]).fg.cpu().numpy()
        out[s : s + len(chunk)][has] = fg
    return out


def evaluate_embeddings(gen, root: str, pca: int | None = None, query_csv: str | None = None, batch_size: int = 64) -> dict:
    """Table 2 (top) on a Market-1501 folder ``root``: ``query/`` against ``bounding_box_test/``
    with foreground embeddings as descriptors, optionally PCA fitted on ``bounding_box_train/``.

    Keypoints: ``market-annotation-test.csv`` for the gallery, ``market-annotation-query.csv``
    (or ``query_csv``) for the queries, ``market-annotation-train.csv`` for the PCA fit."""
    query_csv = query_csv or os.path.join(root, "market-annotation-query.csv")
    if not os.path.isfile(query_csv):
        raise UserError(
            f"no keypoints for the query images: {query_csv} is missing. The community CSVs cover "
            "bounding_box_train and bounding_box_test only; make one for query/ in the same "
            "format (e.g. from `dpg keypoints` output) and pass it with --query-csv"
        )
    qdir, qnames, qids, qcams = market_folder(root, "query")
    gdir, gnames, gids, gcams = market_folder(root, "bounding_box_test")
    q = embedding_descriptors(gen, qdir, query_csv, qnames, batch_size)
    g = embedding_descriptors(gen, gdir, os.path.join(root, "market-annotation-test.csv"), gnames, batch_size)
    result = {"descriptor": f"foreground embedding ({q.shape[1]} dims)", "pca": None}
    if pca:
        tdir, tnames, _, _ = market_folder(root, "bounding_box_train")
        train = embedding_descriptors(gen, tdir, os.path.join(root, "market-annotation-train.csv"), tnames, batch_size)
        proj = PCA(train, pca)
        q, g = proj.transform(q), proj.transform(g)
        result["pca"] = pca
    result.update(evaluate_descriptors(q, g, qids, qcams, gids, gcams).as_dict())
    return result
