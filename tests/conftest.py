import os

import pytest
import torch

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
