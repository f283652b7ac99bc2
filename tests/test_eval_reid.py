"""Re-ID under the Market-1501 protocol on galleries whose answers are known by hand
(``dpg.eval.reid``, ``dpg.eval.reid_net``)."""

import numpy as np
import pytest
from conftest import seeded_tiny_model
from PIL import Image

from dpg.cli import main
from dpg.errors import UserError
from dpg.eval.reid import PCA, average_precision, evaluate_descriptors, evaluate_embeddings, rank_gallery


def test_average_precision_is_markets_compute_ap():
    # Hits at ranks 1 and 3 of 3: Market's trapezoids give 0.5 * (1 + 1) / 2 + 0.5 * (1/2 + 2/3) / 2.
    assert average_precision(np.array([True, False, True])) == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    assert average_precision(np.array([False, True])) == pytest.approx((0 + 0.5) / 2)
    assert average_precision(np.array([True, True])) == 1.0
    assert average_precision(np.array([False, False])) == 0.0


def test_hand_made_gallery_with_junk_same_camera_and_distractors():
    #            g0: id 1 cam 1 (same camera as query 0: ignored)
    #            g1: junk (ignored)        g2: distractor (a wrong match)
    #            g3: id 1 cam 2 (the true match of query 0)   g4: id 2 cam 3
    g_ids, g_cams = np.array([1, -1, 0, 1, 2]), np.array([1, 2, 4, 2, 3])
    q_ids, q_cams = np.array([1, 2, 7]), np.array([1, 1, 1])
    d = np.array(
        [
            [0.0, 0.1, 0.2, 0.3, 0.9],  # query 0: after the ignored g0, g1 the distractor wins
            [0.9, 0.8, 0.7, 0.6, 0.1],  # query 1: its match g4 first
            [0.1, 0.2, 0.3, 0.4, 0.5],  # query 2: id 7 has no match: left out
        ]
    )
    r = rank_gallery(d, q_ids, q_cams, g_ids, g_cams)
    assert (r.queries, r.skipped) == (2, 1)
    assert r.rank1 == 0.5 and r.rank5 == 1.0
    assert r.mAP == pytest.approx((0.25 + 1.0) / 2)  # query 0: match at rank 2 -> AP (0 + 1/2) / 2
    np.testing.assert_allclose(r.cmc[:3], [0.5, 1.0, 1.0])


def test_descriptors_are_l2_normalised_before_ranking():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(6, 4))
    q = g[[0, 3]] * 5 + 0.01  # same directions, other lengths
    ids, cams = np.arange(6) + 1, np.ones(6, int)
    r = evaluate_descriptors(q, g * rng.uniform(0.1, 10, (6, 1)), ids[[0, 3]], cams[[0, 3]] + 1, ids, cams)
    assert r.rank1 == 1.0 and r.mAP == 1.0
    with pytest.raises(UserError, match="no query"):
        evaluate_descriptors(q, g, np.array([9, 9]), np.array([1, 1]), ids, cams)


def test_pca_projects_to_unit_vectors():
    x = np.random.default_rng(0).normal(size=(50, 10))
    p = PCA(x, 3)
    y = p.transform(x[:5])
    assert y.shape == (5, 3)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1, rtol=1e-6)


def _colour_folder(root, folder, ids, cams, size=(16, 8), seed=0):
    """People who are flat colours (one per identity) with noise: re-ID that is easy by design."""
    rng = np.random.default_rng(seed)
    palette = {1: (220, 30, 30), 2: (30, 200, 40), 3: (40, 40, 220), 4: (230, 220, 30)}
    (root / folder).mkdir(parents=True, exist_ok=True)
    for k, (i, c) in enumerate(zip(ids, cams)):
        img = np.clip(np.array(palette[i]) + rng.normal(0, 20, size + (3,)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / folder / f"{i:04d}_c{c}s1_{k:06d}_01.jpg", quality=95)


def test_reid_network_trains_on_a_virtual_market_and_tests_on_market(tmp_path, capsys):
    vm, market = tmp_path / "vm", tmp_path / "market"
    _colour_folder(vm, "bounding_box_train", [1, 2, 3, 4] * 6, [1, 2, 3, 4, 5, 6] * 4)
    _colour_folder(market, "query", [1, 2, 3, 4], [1, 1, 1, 1], seed=1)
    _colour_folder(market, "bounding_box_test", [1, 2, 3, 4, 1, 2, 3, 4], [2, 2, 2, 2, 1, 3, 3, 3], seed=2)
    args = [
        "eval",
        "reid",
        "train",
        "--train",
        str(vm),
        "--data",
        str(market),
        "--arch",
        "small",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--out",
        str(tmp_path / "out"),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "train accuracy" in out.err and "| small pooled features (256 dims) (this run) | 1.000 |" in out.out
    weights = tmp_path / "out" / "reid-small.safetensors"
    assert main(["eval", "reid", "network", "--weights", str(weights), "--data", str(market), "--out", str(tmp_path / "o2")]) == 0
    assert "| 1.000 |" in capsys.readouterr().out


def test_foreground_embeddings_on_a_market_folder(tmp_path):
    from dpg.data.annotations import write_annotation_csv
    from dpg.inference import PersonGenerator
    from dpg.synthetic.people import SyntheticPeople

    gen = PersonGenerator(seeded_tiny_model(), "cpu")
    people = SyntheticPeople(12, split="test", size=(32, 16), identities=3)
    layout = {"query": range(3), "bounding_box_test": range(3, 9), "bounding_box_train": range(9, 12)}
    csv = {"query": "query", "bounding_box_test": "test", "bounding_box_train": "train"}
    for folder, items in layout.items():
        (tmp_path / folder).mkdir()
        names, kps = [], []
        for i in items:
            r = people.render(i)
            name = f"{i % 3 + 1:04d}_c{1 + (i >= 3)}s1_{i:06d}_01.jpg"
            Image.fromarray(r.image).save(tmp_path / folder / name, quality=95)
            names.append(name)
            kps.append(r.keypoints)
        if folder != "query":
            write_annotation_csv(tmp_path / f"market-annotation-{csv[folder]}.csv", names, np.stack(kps))
        else:
            query = (names, np.stack(kps))
    with pytest.raises(UserError, match="market-annotation-query.csv"):
        evaluate_embeddings(gen, str(tmp_path))
    write_annotation_csv(tmp_path / "market-annotation-query.csv", *query)
    r = evaluate_embeddings(gen, str(tmp_path), pca=2)
    assert r["queries"] == 3 and r["pca"] == 2 and 0 <= r["mAP"] <= 1 and 0 <= r["rank1"] <= 1
    assert r["descriptor"] == f"foreground embedding ({gen.cfg.model.fg_dim} dims)"
