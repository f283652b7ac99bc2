"""The sampling baselines of section 4.5 (Fig. 7): a convolutional VAE or a DCGAN.

    python -m train.baselines --model vae --preset cpu        # procedural people, this machine
    python -m train.baselines --model dcgan --preset paper --data MARKET
    python -m train.baselines --model vae --preset cpu --set run.max_minutes=8

The same conventions as the main trainers (``train.cli``, ``train.run``): ``--preset`` (``tiny``, ``cpu``,
``paper``) and ``--set key=value``, a run folder with ``config.json``, ``stats.jsonl``,
``log.txt``, ``losses.png``, sample grids and rotating checkpoints, exact resume (``--fresh``
to start over), a NaN stop. It ends with ``<model>.safetensors``. Sample grids: for the VAE,
rows of held-out people, their reconstructions, then prior samples; for the DCGAN, samples
from fixed seeds, then held-out people.
"""

from __future__ import annotations

import sys

import torch
from torchvision.utils import save_image

from dpg.baselines import build, load_weights, sample_images, save_baseline
from dpg.baselines.config import MODELS, BaselineConfig, preset
from dpg.baselines.dcgan import dcgan_step
from dpg.baselines.vae import vae_step
from dpg.checkpoint import config_json
from dpg.config import override
from dpg.data.sources import stage1_dataset
from train.cli import parser, user_errors
from train.dist import Dist
from train.run import Diverged, Run, resume_error
from train.sampler import StepSampler, loader, lr_at, set_lr, step_generator, to_device


class Images(torch.utils.data.Dataset):
    """Only the ``image`` of a stage-I dataset's items: all a baseline learns from."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.dataset[index]["image"]}


class BaselineRun(Run):
    """``train.run.Run`` with baseline checkpoints (``dpg.baselines.save_baseline``)."""

    def __init__(self, out, cfg: BaselineConfig, model: str, main: bool = True, progress: bool = True):
        super().__init__(out, cfg, main, progress)
        self.model = model

    def save(self, step: int, net, optimizers: dict) -> None:
        if not self.main:
            return
        save_baseline(self.weights_path(step), self.model, net, self.cfg, extra={"step": step})
        from dpg.checkpoint import save_state

        state = {"step": step, "optimizers": {k: o.state_dict() for k, o in optimizers.items()}}
        save_state(self.dir / "checkpoints" / f"ckpt-{step:07d}.state.pt", state)
        for old in self.checkpoints()[: -self.cfg.run.keep_checkpoints]:
            for suffix in (".state.pt", ".safetensors"):
                (self.dir / "checkpoints" / f"ckpt-{old:07d}{suffix}").unlink(missing_ok=True)

    def resume(self, net, optimizers: dict) -> int:
        """Load the newest checkpoint into ``net`` and ``optimizers``; the step it was taken at."""
        found = self.checkpoints()
        if not found:
            return 0
        from dpg.checkpoint import load_state

        try:
            load_weights(net, self.weights_path(found[-1]))
            state = load_state(self.dir / "checkpoints" / f"ckpt-{found[-1]:07d}.state.pt")
            for k, opt in optimizers.items():
                opt.load_state_dict(state["optimizers"][k])
        except Exception as err:  # noqa: BLE001 - any unreadable or mismatched checkpoint
            raise resume_error(self.weights_path(found[-1]), err) from None
        return found[-1]

    def export(self, net, steps: int):
        path = self.dir / f"{self.model}.safetensors"
        if self.main:
            save_baseline(path, self.model, net, self.cfg, extra={"steps": steps})
        return path


@torch.no_grad()
def sample_grid(model: str, net, held: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    """The run's sample grid in [0, 1]: see the module doc."""
    net.eval()
    samples = sample_images(net, seeds).to(held.device)
    if model == "vae":
        mu, _ = net.encode(held)
        rows = [held, net.decode(mu), samples]
    else:
        rows = [samples, held]
    net.train()
    return (torch.cat(rows).clamp(-1, 1) + 1) / 2


@user_errors
def main(argv=None) -> int:
    # the baselines' presets, not the main model's
    p = parser(__doc__.splitlines()[0], presets="paper, cpu or tiny", example="vae_train.lr=1e-4 or run.max_minutes=8")
    p.add_argument("--model", required=True, choices=MODELS, help="vae or dcgan")
    args = p.parse_args(argv)
    try:
        cfg = override(preset(args.preset), args.set)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    if args.dry_run:
        print(config_json(cfg))
        return 0
    d = Dist(args.device)
    if args.model == "dcgan" and d.world > 1:  # two optimisers on one module: no DDP wrapper fits
        print("error: the DCGAN baseline trains in one process; run it without torchrun", file=sys.stderr)
        return 1
    tc = cfg.train(args.model)
    torch.manual_seed(cfg.run.seed)  # identical initial weights on every rank
    net = build(args.model, cfg).to(d.device)
    if args.model == "vae":
        optimizers = {"vae": torch.optim.Adam(net.parameters(), tc.lr, betas=tc.betas)}
    else:
        optimizers = {
            "g": torch.optim.Adam(net.generator.parameters(), tc.lr, betas=tc.betas),
            "d": torch.optim.Adam(net.discriminator.parameters(), tc.lr, betas=tc.betas),
        }
    run = BaselineRun(args.out or f"runs/baseline-{args.model}-{cfg.name}", cfg, args.model, d.main, not args.no_progress)
    start = 0 if args.fresh else run.resume(net, optimizers)
    if start:
        print(f"resumed from step {start}", flush=True)

    data = Images(stage1_dataset(cfg.data_config(), args.data, "train"))
    held_set = stage1_dataset(cfg.data_config(), args.data, "val")
    n = 8
    held = torch.stack([held_set[i]["image"] for i in range(n)]).to(d.device)
    seeds = list(range(2 * n))
    sampler = StepSampler(len(data), tc.batch_size, cfg.run.seed, start, tc.steps, d.rank, d.world)
    model = d.wrap(net)  # the VAE under torchrun: DDP averages its gradients

    def save(done: int) -> None:
        run.save(done, net, optimizers)

    run.start(start, tc.steps)
    step = start
    try:
        for step, batch in zip(range(start, tc.steps), loader(data, sampler, cfg.run.workers, d.device)):
            for opt in optimizers.values():
                set_lr(opt, lr_at(tc.lr, step, tc.lr_halve_every))
            images = to_device(batch, d.device)["image"]
            g = step_generator(cfg.run.seed, step, d.rank)
            if args.model == "vae":
                stats = vae_step(model, optimizers["vae"], images, tc.kl_weight, net.noise(len(images), g).to(d.device))
            else:
                stats = dcgan_step(net, optimizers["g"], optimizers["d"], images, g)
            run.log(step, stats, cfg.run.log_every)
            done = step + 1
            stop = run.end_of_step(done, tc.steps, save)
            if d.main and (done % cfg.run.sample_every == 0 or done == tc.steps or stop):
                save_image(sample_grid(args.model, net, held, seeds), run.dir / "samples" / f"step-{done:07d}.png", nrow=n)
            if stop:
                break
    except Diverged as err:
        return run.diverged(err)
    run.close()
    path = run.export(net, step + 1)
    if d.main:
        print(f"{args.model} done: {path}", flush=True)
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
