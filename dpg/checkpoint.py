"""Checkpoints: safetensors weights with the config in the header, and resumable train state.

Released weights are a single ``.safetensors`` file whose metadata holds ``format`` (the
version of this layout), ``config`` (the full ``Config`` as JSON) and ``stages`` (which parts
of ``DisentangledPersonModel`` it holds: ``stage1``, ``pose_ae``, ``stage2``). Loading is
strict within those stages and fails with a message that says what is wrong and what to do.
Nothing is pickled: the train state (optimiser moments, step, RNG states) is a ``torch.save``
of plain containers, loaded with ``weights_only=True``. Every write goes to a temporary file
first and is moved into place with ``os.replace``, so a killed run never leaves a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from dpg.config import Config
from dpg.errors import UserError
from dpg.model import DisentangledPersonModel

FORMAT = "dpg-checkpoint/1"
STAGES = ("stage1", "pose_ae", "stage2")


def atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file 0600: shipped weights and checkpoints must be readable by others
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_weights(path, model, cfg: Config, stages=STAGES, half: bool = False, extra: dict | None = None) -> None:
    """Write the ``stages`` of ``model`` (a ``DisentangledPersonModel``) to ``path``.

    ``half`` stores floating tensors as fp16 (the shipped demo weights); they are cast back to
    fp32 on load. ``extra`` adds string metadata (steps trained, measured figures).
    """
    state = {}
    for stage in stages:
        for k, v in getattr(model, stage).state_dict().items():
            v = v.detach().cpu().contiguous()
            state[f"{stage}.{k}"] = v.half() if half and v.is_floating_point() else v
    meta = {"format": FORMAT, "config": cfg.to_json(), "stages": ",".join(stages)}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    atomic_write(Path(path), lambda tmp: save_file(state, tmp, metadata=meta))


def read_metadata(path, expected: str = FORMAT, kind: str = "dpg") -> dict:
    """The header of a checkpoint of format ``expected``, or a ``UserError`` saying what the
    file is (missing, not safetensors, or another format). ``kind`` names it in messages."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path} is not a safetensors checkpoint ({err}); pass a .safetensors file written by dpg") from None
    if meta.get("format") != expected:
        found = meta.get("format", "no dpg format tag")
        raise UserError(f"{path} is not a {kind} checkpoint of format {expected} (found: {found}); retrain or convert it")
    return meta


def read_tagged(path, fmt: str, what: str, redo: str, missing: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(metadata, tensors)`` of a small safetensors file whose header's ``format`` is
    ``fmt`` (a model's preview decoder, its named directions): a ``UserError`` for a missing
    file (ending in ``missing``), or for one that is not safetensors or is not ``what``
    (ending in ``redo``). The header is checked before any tensor is read."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if meta.get("format") == fmt else {}
    except FileNotFoundError:
        raise UserError(f"not found: {path} (expected {what}; {missing})") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path} is not a safetensors file ({err}); {redo}") from None
    if meta.get("format") != fmt:
        raise UserError(f"{path} is not {what} (format {meta.get('format', 'missing')}); {redo}")
    return meta, tensors


def header_config(meta: dict, path) -> Config:
    """The ``Config`` in a checkpoint header, or a ``UserError`` for a damaged one."""
    try:
        cfg = Config.from_json(meta["config"])
        from dpg.config import check

        check(cfg)
        return cfg
    except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as err:
        what = "no config" if isinstance(err, KeyError) else f"a damaged config ({str(err)[:120]})"
        raise UserError(f"{path} has {what} in its header; use a checkpoint written by dpg") from None


def load_config(path) -> Config:
    return header_config(read_metadata(path), path)


def check_shapes(path, cfg: Config, stages) -> None:
    """Every tensor of ``stages`` in ``path`` has the shape ``cfg``'s model gives it, checked on
    the meta device before anything is allocated (a header claiming ``model.channels=4096``
    would otherwise allocate gigabytes first)."""

    with torch.device("meta"):
        ghost = DisentangledPersonModel(cfg)
    expected = {f"{s}.{k}": tuple(v.shape) for s in stages for k, v in getattr(ghost, s).state_dict().items()}
    with safe_open(str(path), framework="pt") as f:
        held = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    wrong = [k for k, shape in expected.items() if k in held and held[k] != shape]
    missing = [k for k in expected if k not in held]
    if wrong or missing:
        raise UserError(
            f"{path}: its tensors do not fit the config in its header (wrong shape {wrong[:3]}, missing "
            f"{missing[:3]}); the file is damaged or was edited: use a checkpoint written by dpg"
        )


def check_finite(state: dict, path) -> None:
    """Refuse weights with NaN or infinite values (a damaged file, or a run that diverged)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise UserError(
            f"{path} holds NaN or infinite weights ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}): the file "
            "is damaged or came from a run that diverged; use another checkpoint (the bundled one is assets/dpg-demo.safetensors)"
        )


def load_model(path, device="cpu", stages=None):
    """Build a ``DisentangledPersonModel`` from a checkpoint. Returns ``(model, meta)``.

    ``stages`` lists the parts that must be present (default: all the file holds).
    """

    meta = read_metadata(path)
    cfg = header_config(meta, path)
    held = [s for s in meta.get("stages", "").split(",") if s]
    unknown = [s for s in held if s not in STAGES]
    if unknown:
        raise UserError(f"{path} declares unknown stages {unknown}; use a checkpoint written by dpg")
    missing_stage = [s for s in (stages or []) if s not in held]
    if missing_stage:
        raise UserError(f"{path} holds {', '.join(held)} but {', '.join(missing_stage)} is needed: train that stage first")
    check_shapes(path, cfg, held)
    model = DisentangledPersonModel(cfg)
    load_stages(model, path, held)
    with safe_open(str(path), framework="pt") as f:
        stray = [k for k in f.keys() if k.split(".", 1)[0] not in held]
    if stray:
        raise UserError(f"{path} holds tensors of undeclared stages ({stray[:3]}): the file is damaged")
    return model.to(device).eval(), meta


def load_stages(model, path, stages, skip: tuple[str, ...] = ()) -> None:
    """Load ``stages`` from ``path`` into ``model`` strictly: every key of those stages must be
    present with the right shape, and the file may hold nothing else. Keys starting with one of
    ``skip`` (e.g. ``stage2.mappings.pose.``) are left out on both sides: those parts keep the
    model's own weights."""
    state = {k: v for k, v in load_file(str(path)).items() if not k.startswith(tuple(skip))}
    check_finite({k: v for k, v in state.items() if k.split(".", 1)[0] in stages}, path)
    for stage in stages:
        module = getattr(model, stage)
        prefix = f"{stage}."
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        expected = {k: v for k, v in module.state_dict().items() if not (prefix + k).startswith(tuple(skip))}
        missing = sorted(set(expected) - set(sub))
        unexpected = sorted(set(sub) - set(expected))
        wrong = [k for k in expected if k in sub and sub[k].shape != expected[k].shape]
        if missing or unexpected or wrong:
            raise UserError(
                f"{path}: {stage} does not match this model (missing {missing[:3]}, unexpected "
                f"{unexpected[:3]}, wrong shape {wrong[:3]}); was it written by another version or preset?"
            )
        module.load_state_dict({k: v.to(expected[k].dtype) for k, v in sub.items()}, strict=not skip)


def save_state(path, state: dict) -> None:
    """Write a train state of plain containers and tensors (no code objects)."""
    atomic_write(Path(path), lambda tmp: torch.save(state, tmp))


def load_state(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def config_json(cfg: Config) -> str:
    return json.dumps(json.loads(cfg.to_json()), indent=2, sort_keys=True)
