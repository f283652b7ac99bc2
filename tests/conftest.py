import os

import pytest
import torch

from dpg.checkpoint import save_weights
from dpg.config import tiny
from dpg.inference import PersonGenerator
from dpg.model import DisentangledPersonModel

# On 2 cores a tiny model runs ~10x faster single-threaded than with torch's default pool.
torch.set_num_threads(1)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` (real annotation CSVs, never copied into the repo), or a skip."""
    path = os.path.abspath(os.environ.get("DPG_SHARED_DATA", SHARED_DATA))
    if not os.path.isdir(path):
        pytest.skip(f"real annotation data not found at {path} (set DPG_SHARED_DATA)")
    return path


def seeded_tiny_model(seed: int = 0):
    """The tests' tiny model (``dpg.config.tiny``: 32x16, a few channels), seeded: the same
    weights on every machine and in every file."""
    torch.manual_seed(seed)
    return DisentangledPersonModel(tiny())


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A whole seeded tiny model saved as a checkpoint file (one per test module)."""
    path = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    save_weights(path, seeded_tiny_model(), tiny())
    return path


@pytest.fixture(scope="module")
def gen(ckpt):
    """A ``PersonGenerator`` on the seeded tiny model (one per test module: a module may
    change it)."""
    return PersonGenerator.from_checkpoint(str(ckpt), "cpu")


TINY_TRAIN = ["--preset", "tiny", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """A tiny pose AE and stage I trained for 20 steps on procedural people (``pose_ae/`` and
    ``stage1/`` run folders), once for the whole session: the trainer tests read them and
    write their own runs elsewhere."""
    from train import pose_ae, stage1

    root = tmp_path_factory.mktemp("runs")
    assert pose_ae.main(TINY_TRAIN + ["--procedural", "300", "--out", str(root / "pose_ae")]) == 0
    assert stage1.main(TINY_TRAIN + ["--out", str(root / "stage1")]) == 0
    return root
