"""Where weights come from: the bundled models by name (``real``, the default, and
``procedural``), a local ``.safetensors`` path, or a Hugging Face Hub repo (fetched with
``huggingface_hub`` when installed; nothing is downloaded otherwise); and pushing a checkpoint
to the Hub."""

from __future__ import annotations

import os
from pathlib import Path

from dpg.errors import UserError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_CHECKPOINT = ASSETS / "dpg-demo.safetensors"  # trained on real people (assets/MODEL_CARD.md)
# The bundled models by name (``--checkpoint procedural``): the default, and the model trained on
# procedural people alone, kept for the ground-truth benchmarks (bench_quality, bench_stage2).
BUNDLED = {"real": DEFAULT_CHECKPOINT, "procedural": ASSETS / "dpg-procedural.safetensors"}


def resolve_checkpoint(spec: str | os.PathLike | None) -> Path:
    """A local path, or a Hugging Face Hub repo id (``owner/name`` or ``hf://owner/name``)
    fetched with ``huggingface_hub`` when it is installed and the hub is reachable."""
    if spec is None or (str(spec) in BUNDLED and not Path(spec).exists()):  # a bundled model, by name or default
        bundled = DEFAULT_CHECKPOINT if spec is None else BUNDLED[str(spec)]
        if not bundled.exists():
            raise UserError(f"the bundled weights {bundled} are missing: reinstall, or pass --checkpoint PATH")
        return bundled
    path = Path(spec).expanduser()
    if path.is_dir():
        inside = sorted(path.glob("*.safetensors"))
        hint = f", e.g. {inside[0]}" if inside else ""
        raise UserError(f"{spec} is a folder: pass the .safetensors file inside it{hint}")
    if path.exists():
        return path
    text = str(spec)
    # owner/name is a Hub id unless its first part is a folder here (then most likely a
    # mistyped path); hf://owner/name is always the Hub
    looks_local = path.parent.is_dir() and str(path.parent) not in ("", ".")
    hub = text.removeprefix("hf://") if text.startswith("hf://") else None
    if hub is None and text.count("/") == 1 and not text.endswith(".safetensors") and not text.startswith((".", "/")):
        if looks_local:
            raise UserError(f"checkpoint not found: {spec} (there is a folder {path.parent} here; for the Hub repo, pass hf://{text})")
        hub = text
    if hub is not None:
        text = hub
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise UserError(f"{text} is not a file, and huggingface_hub is not installed to fetch it from the Hub") from None
        try:
            return Path(hf_hub_download(text, "model.safetensors"))
        except Exception as err:  # the hub client raises many kinds; all mean "could not fetch"
            raise UserError(
                f"could not fetch {text}/model.safetensors from the Hugging Face Hub ({type(err).__name__}); "
                "check the repo id and the network, or pass a local path"
            ) from None
    raise UserError(f"checkpoint not found: {spec} (a .safetensors path or a Hub repo id owner/name)")


def push_to_hub(checkpoint: str | os.PathLike, repo_id: str) -> str:
    """Upload a checkpoint as ``model.safetensors`` of a Hub model repo; returns its URL."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise UserError("pushing needs huggingface_hub: pip install 'dpg[hub]'") from None
    try:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        api.upload_file(path_or_fileobj=str(checkpoint), path_in_repo="model.safetensors", repo_id=repo_id)
    except Exception as err:
        raise UserError(f"could not push to the Hugging Face Hub ({type(err).__name__}: {err}); log in and check the network") from None
    return f"https://huggingface.co/{repo_id}"
