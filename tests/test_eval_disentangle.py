"""Ground-truth disentanglement (``dpg.eval.disentangle``): the scores of a perfect model, of
a model that ignores swaps, and of the tiny random model."""

import numpy as np
import pytest
import torch
from conftest import seeded_tiny_model

from dpg.config import market
from dpg.eval.disentangle import evaluate_disentanglement, markdown_table, procedural_people, reconstruction_quality
from dpg.inference import PersonGenerator
from dpg.model import Factors

SIZE = (32, 16)


class Oracle:
    """A 'model' whose embeddings are the renderer's factors themselves (indices into a table
    of held-out people) and whose decoder is the renderer: perfectly disentangled."""

    factors = ("fg", "bg", "pose")
    height, width = SIZE
    cfg = market()  # its people's style (market) is all the evaluation reads of it
    swap = staticmethod(PersonGenerator.swap)

    def __init__(self, pairs, ignore_swaps=False):
        from dpg.synthetic.people import render

        self.people = procedural_people(2 * pairs, SIZE)
        self.render = render
        self.by_image = {render(*f).image.tobytes(): i for i, f in enumerate(self.people)}
        self.ignore_swaps = ignore_swaps

    def encode(self, images, keypoints):
        idx = torch.tensor([[float(self.by_image[x.tobytes()])] for x in images])
        return Factors(idx, idx.clone(), idx.clone())  # fg, bg, "keypoints": all the person's index

    def compose(self, f):
        out = []
        for a, b, p in zip(f.fg[:, 0].long(), f.bg[:, 0].long(), f.keypoints[:, 0].long()):
            if self.ignore_swaps:  # background and pose follow the foreground's person
                b = p = a
            out.append(self.render(self.people[a][0], self.people[b][1], self.people[p][2]).image)
        return np.stack(out)


def test_a_perfect_model_scores_perfectly():
    r = evaluate_disentanglement(Oracle(6), pairs=6, batch_size=4)
    for f in ("fg", "bg", "pose"):
        assert r[f]["accuracy"] == 1.0 and r[f]["ssim_to_truth"] == pytest.approx(1.0)
        assert r[f]["leak"] == 0.0 and r[f]["effect"] == pytest.approx(r[f]["truth_effect"]) and r[f]["effect"] > 0
        assert 0 < r[f]["owned_fraction"] < 1
    assert r["bg"]["owned_fraction"] > r["fg"]["owned_fraction"]  # small people, big scenes


def test_a_model_that_ignores_background_and_pose_swaps_scores_zero_on_them():
    r = evaluate_disentanglement(Oracle(4, ignore_swaps=True), pairs=4, batch_size=4)
    for f in ("bg", "pose"):
        assert r[f]["accuracy"] == 0.0 and r[f]["effect"] == 0.0 and r[f]["leak"] == 0.0


def test_tiny_model_end_to_end():

    gen = PersonGenerator(seeded_tiny_model(), "cpu")
    r = evaluate_disentanglement(gen, pairs=3, batch_size=2)
    recon = reconstruction_quality(gen, n=4, batch_size=2)
    assert set(r) == {"pairs", "fg", "bg", "pose"}
    for f in ("fg", "bg", "pose"):
        assert 0 <= r[f]["accuracy"] <= 1 and r[f]["leak"] >= 0 and -1 <= r[f]["ssim_to_truth"] <= 1
    assert recon["people"] == 4 and -1 <= recon["ssim_gray"] <= 1
    md = markdown_table(r, recon)
    assert "| pose |" in md and "Stage-I reconstruction of 4 people" in md


def test_disentangle_command_writes_its_table(tmp_path, capsys):
    from dpg.checkpoint import save_weights
    from dpg.cli import main
    from dpg.config import tiny
    from dpg.model import DisentangledPersonModel

    cfg = tiny()
    torch.manual_seed(0)
    save_weights(tmp_path / "tiny.safetensors", DisentangledPersonModel(cfg), cfg)
    args = [
        "eval",
        "disentangle",
        "--checkpoint",
        str(tmp_path / "tiny.safetensors"),
        "--device",
        "cpu",
        "--pairs",
        "2",
        "--people",
        "2",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(args) == 0
    assert "| bg |" in capsys.readouterr().out
    assert (tmp_path / "out" / "disentangle.json").exists() and (tmp_path / "out" / "disentangle.md").exists()
