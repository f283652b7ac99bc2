"""``dpg prepare``: folders of photos -> the Market-1501 layout, read back by the existing
readers; resume; the report of refused photos. Photos: a few real pedestrian crops read from
../shared/data (never copied into the repo), plus a corrupt file and a photo with no person
that the tests write themselves."""

import filecmp
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from dpg.cli import main as dpg_main
from dpg.data.annotations import read_annotation_csv, read_pairs_csv
from dpg.data.market import MarketDataset, market_identity
from dpg.data.prepare import plan, prepare, read_info
from dpg.errors import UserError

pytest.importorskip("mediapipe")

# Three photos of PETA 3DPeS person 100, three of person 102, one MIT and two INRIA people.
PETA = ["100_3_FRAME_26_RGB.jpg", "100_4_FRAME_185_RGB.jpg", "100_4_FRAME_70_RGB.jpg", "102_23_FRAME_12_RGB.jpg", "102_26_FRAME_85_RGB.jpg"]
INRIA = ["crop001001a.jpg", "crop001002a.jpg"]


@pytest.fixture
def sources(shared_data, tmp_path):
    real = os.path.join(shared_data, "real")
    if not os.path.isdir(real):
        pytest.skip("../shared/data/real not found")
    a, b = tmp_path / "src" / "peta" / "3DPeS", tmp_path / "src" / "inria"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    for n in PETA:
        shutil.copy(os.path.join(real, "peta", "3DPeS", n), a / n)
    for n in INRIA:
        shutil.copy(os.path.join(real, "inria", n), b / n)
    (b / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    Image.fromarray(np.full((128, 64, 3), 128, np.uint8)).save(b / "empty_wall.png")  # no person
    from dpg.synthetic.people import SyntheticPeople

    # a procedural person at twice the size, on its street: found or reported, like any photo
    person = SyntheticPeople(4, split="test", size=(256, 128)).render(1).image
    Image.fromarray(person).save(b / "rendered_person.png")
    return [str(tmp_path / "src" / "peta"), str(b)]


EXTRA = 3  # broken.jpg, empty_wall.png, rendered_person.png


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), root)
            if not rel.startswith(".records"):
                out[rel] = os.path.join(dirpath, n)
    return out


def test_prepare_writes_what_the_readers_take(sources, tmp_path):
    out = tmp_path / "prepared"
    summary = prepare(sources, str(out), (128, 64), test_fraction=0.5, seed=3, workers=1, progress=False)
    info = read_info(out)
    assert info["size"] == [128, 64]
    report = (out / "prepare-report.csv").read_text()
    assert "broken.jpg" in report and "not an image" in report
    assert "empty_wall.png" in report and "No person found" in report
    written = {s: MarketDataset(out, s, size=(128, 64), missing="error") for s in ("train", "test")}
    names = written["train"].names + written["test"].names
    refused = report.count("\n") - 1
    assert len(names) + refused == len(PETA) + len(INRIA) + EXTRA  # every photo written or reported
    assert len(names) >= 6  # the real crops are found
    counts = summary.per_source
    assert sum(c["photos"] for c in counts.values()) == len(PETA) + len(INRIA) + EXTRA
    item = written["train"][0] if len(written["train"]) else written["test"][0]
    assert item["image"].shape == (3, 128, 64) and item["keypoints"].shape == (18, 3)
    for n in names:  # one mask per crop, at the crop's size, with the person in it
        mask = np.asarray(Image.open(out / "masks" / n.replace(".jpg", ".png")))
        assert mask.shape == (128, 64) and mask.max() > 128
    # identities: one per PETA person, never shared between sources; a split holds whole people
    index = [line.split(",") for line in (out / "prepare-index.csv").read_text().splitlines()[1:]]
    person = {row[3].rsplit("/", 1)[-1]: market_identity(row[0])[0] for row in index}
    split = {market_identity(row[0])[0]: row[1] for row in index}
    assert len(split) == len({row[2] for row in index})
    if "100_3_FRAME_26_RGB.jpg" in person and "100_4_FRAME_70_RGB.jpg" in person:
        assert person["100_3_FRAME_26_RGB.jpg"] == person["100_4_FRAME_70_RGB.jpg"]
    inria = {person[n] for n in INRIA if n in person}
    assert not inria & {person[n] for n in PETA if n in person}
    # test pairs: same identity, both in the test CSV
    test_names, _ = read_annotation_csv(out / "market-annotation-test.csv")
    for a, b in read_pairs_csv(out / "market-pairs-test.csv"):
        assert a in test_names and b in test_names and a != b
        assert market_identity(a)[0] == market_identity(b)[0]
    # stage I on it, with raised-arm procedural people mixed in at their share (issue 20)
    import torch

    from dpg.config import override, preset
    from dpg.data.sources import stage1_dataset

    cfg = override(preset("tiny"), ["model.height=128", "model.width=64", "stage1.raised_arm_mix=0.5"])
    mixed, held = stage1_dataset(cfg, str(out), "train"), stage1_dataset(cfg, str(out), "val")
    n = len(written["train"])
    assert len(mixed) == 2 * n and len(held) == len(written["test"])
    batch = torch.utils.data.default_collate([mixed[0], mixed[n], mixed[2 * n - 1]])  # photos and people collate
    assert batch["image"].shape == (3, 3, 128, 64) and batch["rois"].shape == (3, 7, 4)
    assert len(stage1_dataset(cfg, str(out), "train", raised_arms=False)) == n  # what stage II embeds
    for bad in ("1", "-0.1"):
        with pytest.raises(UserError, match="from 0 up to below 1"):
            stage1_dataset(override(cfg, [f"stage1.raised_arm_mix={bad}"]), str(out), "train")
    with pytest.raises(UserError, match="without --data every person is procedural"):
        stage1_dataset(cfg, None, "train")


def test_prepare_resumes_to_the_same_files(sources, tmp_path, monkeypatch):
    import dpg.data.prepare as P

    whole = tmp_path / "whole"
    prepare(sources, str(whole), (128, 64), test_fraction=0.5, seed=3, workers=1, progress=False)
    cut = tmp_path / "cut"
    real, calls = P.process, {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(P, "process", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(sources, str(cut), (128, 64), test_fraction=0.5, seed=3, workers=1, progress=False)
    assert not (cut / "prepare-index.csv").exists()
    (cut / "bounding_box_train" / ".half.jpg.tmp").write_bytes(b"half")  # an interrupted write
    monkeypatch.setattr(P, "process", real)
    done = []
    monkeypatch.setattr(P, "process", lambda *a: done.append(a) or real(*a))
    prepare(sources, str(cut), (128, 64), test_fraction=0.5, seed=3, workers=1, progress=False)
    assert len(done) == len(PETA) + len(INRIA) + EXTRA - 3  # the three done are skipped
    a, b = _files(whole), _files(cut)
    assert set(a) == set(b)
    for rel in a:
        if rel != "prepare.json":
            assert filecmp.cmp(a[rel], b[rel], shallow=False), rel


def test_prepare_plans_identities_and_splits_deterministically(tmp_path):
    for sub, names in {"s1/x": ["7_a.jpg", "7_b.jpg", "8_a.jpg"], "s2": ["7_a.png", "solo.jpg"]}.items():
        (tmp_path / sub).mkdir(parents=True)
        for n in names:
            (tmp_path / sub / n).write_bytes(b"")
    photos = plan([str(tmp_path / "s1"), str(tmp_path / "s2")], test_fraction=0.5, seed=1)
    by = {os.path.basename(p.path) + str(p.source): p for p in photos}
    assert by["7_a.jpg1"].person == by["7_b.jpg1"].person != by["7_a.png2"].person  # sources never share
    assert {p.split for p in photos if p.person == by["7_a.jpg1"].person} == {by["7_a.jpg1"].split}
    assert [p.name for p in photos] == [p.name for p in plan([str(tmp_path / "s1"), str(tmp_path / "s2")], test_fraction=0.5, seed=1)]
    regex = plan([str(tmp_path / "s1")], ids=r"_(\w)\.", test_fraction=0)
    assert len({p.person for p in regex}) == 2  # by the letter: a, b
    with pytest.raises(UserError, match="neither a file nor a regular expression"):
        plan([str(tmp_path / "s1")], ids="(")
    with pytest.raises(UserError, match="not a folder"):
        plan([str(tmp_path / "nowhere")])
    with pytest.raises(UserError, match="test-fraction"):
        plan([str(tmp_path / "s1")], test_fraction=1.5)


def test_prepare_command_and_the_trainers_reader(sources, tmp_path, capsys):
    from dpg.config import cpu, tiny
    from dpg.data.sources import stage1_dataset

    out = tmp_path / "cmd"
    assert dpg_main(["prepare", *sources, "--out", str(out), "--workers", "1", "--test-fraction", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "refused" in printed and "prepared" in printed
    data = stage1_dataset(cpu(), str(out), "train")
    assert len(data) > 0 and data[0]["image"].shape == (3, 128, 64)
    with pytest.raises(UserError, match="prepared at 128x64"):
        stage1_dataset(tiny(), str(out), "train")
    assert dpg_main(["prepare", *sources, "--out", str(out), "--size", "64x32"]) == 1
    assert "other settings" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert dpg_main(["prepare", *sources, "--out", str(tmp_path / "afile")]) == 1
