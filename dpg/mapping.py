"""Stage-II mapping functions and their critics (section 3.2, Fig. 9; Eq. 4-5).

"For each mapping function in stage-II, we use a fully-connected network consisting of 4
fully-connected residual blocks to map K-dim Gaussian noise z to K-dim embedding features e.
For the discriminator, we adopt a fully-connected network with 4 fully-connected layers."
One pair per factor: foreground (224 dims, 512 wide), background (128, 256 wide) and pose
(the pose auto-encoder's 32-dim code, 512 wide). Noise is ``z ~ N(0, noise_std^2)`` with the
reference's ``noise_std = 0.2``.

``FlowMapping`` (``MappingConfig.flow``) is the invertible variant for issue 21: residual
blocks at the embedding's own width whose branches are held below Lipschitz 1 (an i-ResNet,
Behrmann et al. 2019), then an affine layer. Its inverse is exact and takes milliseconds
(fixed-point iteration per block, a linear solve for the affine), where inverting the FC
ResNet by L-BFGS takes seconds and stops at its folds (docs/inversion.md).
"""

from __future__ import annotations

import torch
from torch import nn

from dpg.config import MappingConfig, flow_factors
from dpg.nn import FCResNet


class NoiseMapping(nn.Module):
    """What every mapping shares: its width ``dim`` (K) and its noise ``z ~ N(0, noise_std^2)``."""

    def __init__(self, dim: int, noise_std: float):
        super().__init__()
        self.dim = dim
        self.noise_std = noise_std

    def noise(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """Draw ``z`` ``[n, K]`` on the CPU from ``generator`` (so a seed means the same z on
        every device), then move it."""
        z = torch.randn(n, self.dim, generator=generator) * self.noise_std
        return z.to(device) if device is not None else z


class MappingNetwork(NoiseMapping):
    """``Phi: z [N, K] -> e~ [N, K]``: FC, residual FC blocks, linear output (the paper's)."""

    def __init__(self, dim: int, hidden: int, blocks: int = 4, noise_std: float = 0.2):
        super().__init__(dim, noise_std)
        self.net = FCResNet(dim, dim, hidden, blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ContractiveLinear(nn.Linear):
    """A linear layer whose weight is divided by ``max(1, sigma / lipschitz)``, ``sigma`` its
    largest singular value, so its Lipschitz constant is at most ``lipschitz``.

    ``sigma`` by power iteration, as ``torch.nn.utils.parametrizations.spectral_norm`` does:
    one step per forward while training, its vector ``u`` ``[out]`` kept as a buffer so that a
    saved mapping is plain tensors under plain names (safetensors) and evaluates as trained.
    ``u`` starts as a constant, not a random draw, to leave the global RNG stream alone."""

    def __init__(self, in_features: int, out_features: int, lipschitz: float):
        super().__init__(in_features, out_features)
        self.lipschitz = lipschitz
        self.register_buffer("u", torch.full((out_features,), out_features**-0.5))
        self._frozen: tuple | None = None  # (what it was computed from, the scaled weight, ...)

    def scaled_weight(self) -> torch.Tensor:
        """The weight over ``max(1, sigma / lipschitz)``. Without gradients and out of training
        (the app, sampling, a flow's inversion: a 16-block flow's 32 layers per call, and the
        inversion's fixed points call each block hundreds of times), it is computed once per
        state of the weight and ``u``: two matrix-vector products and a division per layer per
        call were two thirds of a slider event's mapping time. Any change to either (an
        optimiser step, a load, a move to another device or dtype) changes their version or
        storage, and it is computed again."""
        if self.training or torch.is_grad_enabled():
            return self._scaled_weight()
        w = self.weight
        key = (w.data_ptr(), w._version, w.dtype, w.device, self.u.data_ptr(), self.u._version)
        frozen = self._frozen  # one read: another thread may replace it meanwhile
        if frozen is None or frozen[0] != key:
            # the tensors it came from are held too, so that their memory is not reused by
            # another weight with the same address and version while this is kept
            frozen = (key, self._scaled_weight(), w.detach(), self.u.detach())
            self._frozen = frozen
        return frozen[1]

    def _scaled_weight(self) -> torch.Tensor:
        w = self.weight
        with torch.no_grad():
            u = self.u
            if self.training:
                u = nn.functional.normalize(w @ nn.functional.normalize(w.t() @ u, dim=0), dim=0)
                self.u.copy_(u)
            v = nn.functional.normalize(w.t() @ u, dim=0)
        sigma = torch.dot(u, w @ v)  # the gradient flows through sigma, as in spectral_norm
        return w / torch.clamp(sigma / self.lipschitz, min=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.scaled_weight(), self.bias)


class FlowMapping(NoiseMapping):
    """``Psi: z [N, K] -> e~ [N, K]``, invertible: ``x = z / noise_std``, then ``blocks`` times
    ``x <- x + g(x)`` with ``g = ContractiveLinear(K, hidden, 1) -> LeakyReLU(0.2) ->
    ContractiveLinear(hidden, K, lipschitz)`` (Lipschitz below 1, so each block is a bijection),
    then ``e = A x + b`` (``out``, a K x K linear layer).

    ``fit_gaussian`` starts ``A, b`` at the embeddings' Gaussian fit (each branch starts near 0,
    so a fresh mapping already draws embeddings of the right mean and covariance) and the WGAN
    of stage II learns the rest."""

    def __init__(self, dim: int, hidden: int, blocks: int = 4, noise_std: float = 0.2, lipschitz: float = 0.9):
        super().__init__(dim, noise_std)
        self.branches = nn.ModuleList()
        for _ in range(blocks):
            last = ContractiveLinear(hidden, dim, lipschitz)
            with torch.no_grad():
                last.weight.mul_(0.1)  # near the identity at first (not 0: the power iteration would stall)
                last.bias.zero_()
            self.branches.append(nn.Sequential(ContractiveLinear(dim, hidden, 1.0), nn.LeakyReLU(0.2), last))
        self.out = nn.Linear(dim, dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z / self.noise_std
        for g in self.branches:
            x = x + g(x)
        return self.out(x)

    @torch.no_grad()
    def inverse(self, e: torch.Tensor, iters: int = 500, tol: float = 1e-6) -> torch.Tensor:
        """``z`` ``[N, K]`` with ``Psi(z) = e`` for any ``e`` ``[N, K]``: a linear solve for the
        affine, then per block (last first) the fixed point ``x = y - g(x)``, which converges
        since ``g`` contracts (the error shrinks by the Lipschitz bound each iteration, faster
        in practice), until an iteration moves ``x`` by less than ``tol`` (relative)."""
        was = self.training
        self.eval()  # no power-iteration steps while inverting
        try:
            x = torch.linalg.solve(self.out.weight, (e - self.out.bias).t()).t()
            for g in reversed(self.branches):
                y = x
                for _ in range(iters):
                    nxt = y - g(x)
                    moved = float((nxt - x).abs().max())
                    x = nxt
                    if moved <= tol * (1.0 + float(y.abs().max())):
                        break
            return x * self.noise_std
        finally:
            self.train(was)

    @torch.no_grad()
    def fit_gaussian(self, e: torch.Tensor) -> None:
        """``A = chol(cov(e))``, ``b = mean(e)`` for embeddings ``e`` ``[N, K]`` (a fresh start)."""
        e = e.float()
        cov = torch.cov(e.t())
        cov = cov + torch.eye(self.dim, device=e.device) * (1e-4 * float(cov.diagonal().mean()))  # rank-deficient dims
        self.out.weight.copy_(torch.linalg.cholesky(cov))
        self.out.bias.copy_(e.mean(0))


def build_mapping(cfg: MappingConfig, factor: str, dim: int) -> NoiseMapping:
    """The mapping of ``factor`` (width ``dim``) that ``cfg`` names: a ``FlowMapping`` where
    ``cfg.flow`` lists the factor, else the paper's ``MappingNetwork``."""
    hidden = {"fg": cfg.fg_hidden, "bg": cfg.bg_hidden, "pose": cfg.pose_hidden}[factor]
    if factor in flow_factors(cfg.flow):
        return FlowMapping(dim, hidden, cfg.flow_blocks, cfg.noise_std, cfg.flow_lipschitz)
    return MappingNetwork(dim, hidden, cfg.blocks, cfg.noise_std)


class EmbeddingCritic(nn.Module):
    """``D2: e [N, K] -> score [N]``: ``layers`` FC layers with LeakyReLU(0.2), linear output."""

    def __init__(self, dim: int, hidden: int = 512, layers: int = 4):
        super().__init__()
        mods: list[nn.Module] = []
        width = dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        mods.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.net(e).squeeze(1)
