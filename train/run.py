"""The run folder: config, ``stats.jsonl``, status lines, loss curves, rotating checkpoints
and exact resume (``Run``); the checks before a checkpoint is written (``check_weights``);
warm starts from another checkpoint (``init_from``) and the facts they carry."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from dpg import checkpoint
from dpg.config import Config, flow_factors
from dpg.errors import UserError
from dpg.model import FACTORS


class Diverged(RuntimeError):
    """A loss became NaN or inf: training stops, the last good checkpoint stays."""


class Run:
    """A run folder: ``config.json``, ``stats.jsonl``, ``log.txt``, ``losses.png``,
    ``samples/``, ``checkpoints/ckpt-<step>.{safetensors,state.pt}``. Only rank 0 writes."""

    def __init__(self, out: str | Path, cfg: Config, main: bool = True, progress: bool = True):
        self.dir = Path(out)
        self.cfg = cfg
        self.main = main
        self.progress = progress and sys.stderr.isatty()
        self.bar = None
        self.t0 = time.time()
        if main:
            (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
            (self.dir / "samples").mkdir(exist_ok=True)
            for stale in (self.dir / "checkpoints").glob(".ckpt-*.tmp"):  # a write cut short by a kill
                stale.unlink(missing_ok=True)

    def end_of_step(self, done: int, total: int, save) -> bool:
        """After step ``done``: checkpoint when due (``save(done)``); returns True when the run
        must stop now because its time budget is used."""
        stop = self.out_of_time()
        if done % self.cfg.run.checkpoint_every == 0 or done == total or stop:
            save(done)
        if stop:
            print(f"time budget of {self.cfg.run.max_minutes} min used: stopping at step {done}", flush=True)
        return stop

    def diverged(self, err: Diverged) -> int:
        """Report a NaN/inf stop with the last good checkpoint; the exit code."""
        last = self.checkpoints()
        print(f"training stopped: {err}; the last good checkpoint is step {last[-1] if last else 'none'}", file=sys.stderr)
        self.close()
        return 1

    def out_of_time(self) -> bool:
        """True once the run has used its ``run.max_minutes`` (a fixed-time training budget)."""
        limit = self.cfg.run.max_minutes
        return limit > 0 and time.time() - self.t0 > 60 * limit

    # -- logging
    def start(self, first: int, total: int) -> None:
        """The run begins at step ``first`` (after any resume): write ``config.json`` now (a
        refused resume leaves the folder's own), and drop ``stats.jsonl`` rows past ``first``
        (logged after the checkpoint resumed from, and about to be logged again). The clock of
        ``run.max_minutes`` starts here: a budget for training, not for encoding data first."""
        self.t0 = time.time()
        if self.main:
            (self.dir / "config.json").write_text(checkpoint.config_json(self.cfg) + "\n")
            stats = self.dir / "stats.jsonl"
            if stats.exists():
                rows = stats.read_text().splitlines()
                kept = [r for r in rows if r.strip() and json.loads(r).get("step", 0) <= first]
                if len(kept) != len(rows):
                    stats.write_text("".join(r + "\n" for r in kept))
        if self.main and self.progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=first, unit="step", dynamic_ncols=True)

    def log(self, step: int, stats: dict, every: int) -> None:
        """Check every loss is finite (``Diverged`` otherwise), then record the step."""
        bad = [k for k, v in stats.items() if not math.isfinite(v)]
        if bad:
            raise Diverged(f"loss {', '.join(bad)} became {stats[bad[0]]} at step {step + 1}")
        if self.bar is not None:
            self.bar.update(1)
        if not self.main or (step + 1) % every:
            return
        record = {"step": step + 1, "time": round(time.time() - self.t0, 2), **{k: round(v, 6) for k, v in stats.items()}}
        with open(self.dir / "stats.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        line = f"step {step + 1} " + " ".join(f"{k}={v:.4g}" for k, v in stats.items())
        with open(self.dir / "log.txt", "a") as f:
            f.write(line + "\n")
        if self.bar is not None:
            self.bar.set_postfix_str(" ".join(f"{k}={v:.3g}" for k, v in stats.items()))
        else:
            print(line, flush=True)

    def plot(self) -> None:
        """Loss curves from ``stats.jsonl`` to ``losses.png``."""
        path = self.dir / "stats.jsonl"
        if not self.main or not path.exists():
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        keys = [k for k in rows[-1] if k not in ("step", "time")]
        fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
        for ax, k in zip(axes[0], keys):
            pts = [(r["step"], r[k]) for r in rows if k in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1)
            ax.set_title(k)
            ax.set_xlabel("step")
        fig.tight_layout()
        fig.savefig(self.dir / "losses.png", dpi=90)
        plt.close(fig)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.plot()

    # -- checkpoints
    def checkpoints(self) -> list[int]:
        """Steps with a complete checkpoint (the state file is written last)."""
        steps = []
        for p in (self.dir / "checkpoints").glob("ckpt-*.state.pt"):
            step = int(p.name.split("-")[1].split(".")[0])
            if (self.dir / "checkpoints" / f"ckpt-{step:07d}.safetensors").exists():
                steps.append(step)
        return sorted(steps)

    def weights_path(self, step: int) -> Path:
        return self.dir / "checkpoints" / f"ckpt-{step:07d}.safetensors"

    def save(self, step: int, model, stages, optimizers: dict, extra_state: dict | None = None) -> None:
        """Write weights then state for ``step`` and drop all but the newest ``keep``."""
        check_weights(model, stages, step)  # every rank: the same weights, the same verdict
        if not self.main:
            return
        checkpoint.save_weights(self.weights_path(step), model, self.cfg, stages, extra={"step": step})
        state = {"step": step, "optimizers": {k: o.state_dict() for k, o in optimizers.items()}}
        state.update(extra_state or {})
        checkpoint.save_state(self.dir / "checkpoints" / f"ckpt-{step:07d}.state.pt", state)
        for old in self.checkpoints()[: -self.cfg.run.keep_checkpoints]:
            for suffix in (".state.pt", ".safetensors"):
                (self.dir / "checkpoints" / f"ckpt-{old:07d}{suffix}").unlink(missing_ok=True)

    def resume(self, model, stages, optimizers: dict, modules: dict | None = None) -> tuple[int, dict]:
        """Load the newest checkpoint into ``model``/``optimizers`` and the ``modules`` saved
        beside them (``save``'s ``extra_state``: name -> state dict, e.g. stage I's
        discriminator); returns ``(step, state)``. A checkpoint that cannot be read or does not
        fit (truncated, another preset, another discriminator) is a ``UserError`` that names it
        and the two ways on: ``--fresh`` or another ``--out``."""
        found = self.checkpoints()
        if not found:
            return 0, {}
        step = found[-1]
        try:
            checkpoint.load_stages(model, self.weights_path(step), stages)
            state = checkpoint.load_state(self.dir / "checkpoints" / f"ckpt-{step:07d}.state.pt")
            for k, opt in optimizers.items():
                opt.load_state_dict(state["optimizers"][k])
            for k, module in (modules or {}).items():
                module.load_state_dict(state[k])
        except Exception as err:  # noqa: BLE001 - any unreadable or mismatched checkpoint
            raise resume_error(self.weights_path(step), err) from None
        return step, state

    def export(self, model, stages, name: str = "model.safetensors", extra: dict | None = None) -> Path:
        path = self.dir / name
        if self.main:
            checkpoint.save_weights(path, model, self.cfg, stages, extra=extra)
        return path


# Weights of a healthy run stay far below this; a learning rate of 1e30 took them to 1e30
# within a step while every loss was still finite.
BLOWN_UP = 1e4


def check_weights(model, stages, step: int) -> None:
    """``Diverged`` when a weight about to be checkpointed is NaN, infinite or blown up, so
    the last good checkpoint stays good."""
    for stage in stages:
        for name, p in getattr(model, stage).named_parameters():
            if not torch.isfinite(p).all() or p.detach().abs().max() > BLOWN_UP:
                top = p.detach().abs().max().item()
                raise Diverged(f"weight {stage}.{name} reached {top:.3g} by step {step}")


def resume_error(path, err: Exception) -> UserError:
    """A checkpoint that cannot be resumed from (truncated, empty, another preset): what
    broke, in one line, and the two ways on."""
    what = (str(err).splitlines() or [type(err).__name__])[0][:200]  # an EOFError of an empty file has no message
    return UserError(f"cannot resume from {path} ({what}); pass --fresh to start over in this folder, or --out for a new one")


def init_from(model, path: str | None, stages, restart: tuple[str, ...] = ()) -> None:
    """Load earlier stages (e.g. a frozen stage I for stage II) from a checkpoint. ``restart``
    names stage-II factors whose mapping and critic are not loaded (they start fresh, and their
    mapping width may differ from the checkpoint's)."""
    if not path:
        raise UserError(f"this stage needs a checkpoint holding {', '.join(stages)}: pass --init PATH")
    meta = checkpoint.read_metadata(path)
    held = meta.get("stages", "").split(",")
    missing = [s for s in stages if s not in held]
    if missing:
        raise UserError(f"{path} does not hold {', '.join(missing)}; train that stage first")
    saved = checkpoint.header_config(meta, path)
    if saved.model != model.cfg.model and "stage1" in stages:
        raise UserError(f"{path} was trained with a different model config (preset {saved.name}); use --preset {saved.name}")
    if "stage2" in stages:
        # a restarted factor may change its own width; everything else must match
        # and its kind (``mapping.flow``: FC ResNet or invertible flow)
        mine = model.cfg.mapping
        kept = replace(saved.mapping, **{f"{f}_hidden": getattr(mine, f"{f}_hidden") for f in restart})
        flows = [f for f in FACTORS if f in (flow_factors(mine.flow) if f in restart else flow_factors(saved.mapping.flow))]
        kept_lip = saved.mapping.flow_lipschitz if set(flows) - set(restart) else mine.flow_lipschitz
        kept_blocks = saved.mapping.flow_blocks if set(flows) - set(restart) else mine.flow_blocks
        kept = replace(kept, flow=",".join(flows), flow_lipschitz=kept_lip, flow_blocks=kept_blocks)
        if kept != replace(mine, flow=",".join(f for f in FACTORS if f in flow_factors(mine.flow))):
            raise UserError(
                f"{path} has stage-II mappings of another config (preset {saved.name}); use --preset "
                f"{saved.name}, or --restart the factors whose width you change"
            )
    skip = tuple(f"stage2.{part}.{f}." for f in restart for part in ("mappings", "critics"))
    checkpoint.load_stages(model, path, stages, skip)


def stage_steps(meta: dict, stage: str, default: str = "?") -> str:
    """The steps a checkpoint header counts for ``stage``: a whole model says
    ``<stage>_steps``, a one-stage file ``steps``."""
    return str(meta.get(f"{stage}_steps", meta.get("steps", default)))


def kept_init_facts(run_dir, init: str, fresh: bool, pick, resumed: bool = False, write: bool = True) -> dict:
    """``pick(header)`` of the warm start ``init`` as it was when this run folder first started
    from it (kept in ``init_facts.json``): a resumed or re-run continuation adds its steps to
    the same start, even after its export has overwritten ``init``. A run folder ``resumed``
    from checkpoints that recorded no start never began from ``init``: ``pick({})``. Only the
    main rank ``write``s (atomically, so another rank never reads half a file)."""
    kept = Path(run_dir) / "init_facts.json"
    if kept.exists() and not fresh:
        return json.loads(kept.read_text())
    if resumed:
        return pick({})
    facts = pick(checkpoint.read_metadata(init))
    if write:
        kept.parent.mkdir(parents=True, exist_ok=True)
        tmp = kept.with_name(f".{kept.name}.tmp")
        tmp.write_text(json.dumps(facts, indent=1))
        os.replace(tmp, kept)
    return facts
