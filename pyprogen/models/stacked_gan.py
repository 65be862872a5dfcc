"""S independent GANs as one implicit Pyro model: a plate over runs (the 1-D stability study).

    for s in plate("runs", S), i in plate("data", n):
        z[s, i] ~ N(0, I)          drawn from run s's own torch.Generator
        x[s, i] = G_s(z[s, i])     (a deterministic site, as in :class:`pyprogen.models.gan.GAN`)

The S generators and the S critics are :class:`pyprogen.nn.BatchedMLP` stacks (weights
``(S, in, out)``, ``torch.baddbmm``): ``model(n=B)`` puts fakes of shape ``(S, B, *data_shape)``
at site ``"x"``, the critic maps ``(S, B, *data_shape)`` to scores ``(S, B, 1)``, and the
adversarial losses (batch means, *summed* over the leading run dimension) give every network
exactly its own gradients, so :class:`pyprogen.infer.AdversarialSVI` trains all S runs in one pass.

**Randomness per run.** Every draw of run ``s`` — its latent noise here, and through
:class:`RunGenerators` its minibatches and WGAN-GP's interpolation ε in the study's step — comes
from ``torch.Generator().manual_seed(seeds[s])`` alone, in the same order whatever else shares the
stack; network ``s`` is initialised as ``torch.manual_seed(seeds[s]); G = mlp(...); D = mlp(...)``.
So run ``s`` of a stack equals the run trained alone (up to float rounding of the batched
products). CPU only (the generators are CPU generators).
"""
import contextlib

import pyro
import torch
from pyro.distributions import TorchDistribution, constraints
from pyro.nn import PyroModule

from ..errors import PyprogenError
from ..nn.batched import BatchedMLP
from ..nn.mlp import mlp
from ..seeding import seeded


class RunGenerators:
    """One ``torch.Generator`` per run; each draw is made run by run and stacked on a leading dimension.

    ``randn(*shape)``, ``rand(*shape)`` and ``randint(high, shape)`` return ``(S, *shape)``; row ``s``
    uses generator ``s`` only, so it is the draw run ``s`` makes alone.
    """

    def __init__(self, seeds=(), generators=None):
        self.seeds = [int(s) for s in seeds]
        self.generators = generators if generators is not None else \
            [torch.Generator().manual_seed(s) for s in self.seeds]

    def __len__(self):
        return len(self.generators)

    def randn(self, *shape):
        return torch.stack([torch.randn(shape, generator=g) for g in self.generators])

    def rand(self, *shape):
        return torch.stack([torch.rand(shape, generator=g) for g in self.generators])

    def randint(self, high, shape):
        return torch.stack([torch.randint(high, tuple(shape), generator=g) for g in self.generators])

    def uniform(self, shape, dtype=torch.float32, device=None):
        """ε for interpolation penalties (``pyprogen.infer.penalties.interpolation_noise``): ``shape[0]`` runs."""
        if shape[0] != len(self):
            raise PyprogenError(f"shape: expected {len(self)} runs in the leading dimension, got {tuple(shape)}")
        return self.rand(*shape[1:]).to(dtype=dtype, device=device)

    def select(self, index):
        """Copies of the generators of runs ``index`` in their current states (their streams continue there)."""
        copies = []
        for i in index:
            g = torch.Generator()
            g.set_state(self.generators[i].get_state())
            copies.append(g)
        return RunGenerators([self.seeds[i] for i in index], copies)

    @contextlib.contextmanager
    def fork(self):
        """Run a block without advancing any run's stream (states restored on exit)."""
        states = [g.get_state() for g in self.generators]
        try:
            yield
        finally:
            for g, s in zip(self.generators, states):
                g.set_state(s)


class RunNormal(TorchDistribution):
    """N(0, I) over ``dim`` values, batch shape ``(S, n)``: row ``s`` drawn from run ``s``'s generator."""

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, rngs, n, dim):
        self.rngs, self.n, self.dim = rngs, int(n), int(dim)
        super().__init__(torch.Size((len(rngs), self.n)), torch.Size((self.dim,)), validate_args=False)

    def expand(self, batch_shape, _instance=None):
        if torch.Size(batch_shape) != self.batch_shape:
            raise PyprogenError(f"RunNormal: cannot expand batch shape {tuple(self.batch_shape)} to "
                                f"{tuple(batch_shape)} (one draw per run and data point)")
        return self

    def rsample(self, sample_shape=torch.Size()):
        if len(sample_shape):
            raise PyprogenError("RunNormal: expected no sample_shape (use a plate over the data instead)")
        return self.rngs.randn(self.n, self.dim)

    def log_prob(self, value):
        return torch.distributions.Normal(0.0, 1.0).log_prob(value).sum(-1)


class StackedGAN(PyroModule):
    """S GANs with stacked generators and critics; sites ``"z"`` and ``"x"`` in plates "runs" × "data".

    :param generator: a :class:`BatchedMLP` ``(S, n, latent_dim) -> (S, n, *data_shape)``.
    :param critic: a :class:`BatchedMLP` ``(S, n, *data_shape) -> (S, n, 1)``.
    :param rngs: the runs' :class:`RunGenerators` (the latent noise comes from them).
    """

    critic_site = "x"

    def __init__(self, generator, critic, rngs, latent_dim):
        super().__init__()
        if not (generator.num_networks == critic.num_networks == len(rngs)):
            raise PyprogenError(f"rngs: expected one generator per network ({generator.num_networks}), "
                                f"got {len(rngs)}")
        self.generator, self.critic, self.rngs, self.latent_dim = generator, critic, rngs, int(latent_dim)

    @classmethod
    def from_seeds(cls, seeds, *, latent_dim, hidden, activation, data_dim=1):
        """Network pair ``s``: ``torch.manual_seed(seeds[s]); G = mlp([latent_dim, *hidden, data_dim]);
        D = mlp([data_dim, *hidden, 1])`` (global RNG restored); run ``s`` draws from ``Generator(seeds[s])``."""
        gens, crits = [], []
        for seed in seeds:
            with seeded(int(seed)):
                gens.append(mlp([latent_dim, *hidden, data_dim], activation))
                crits.append(mlp([data_dim, *hidden, 1], activation))
        return cls(BatchedMLP.from_modules(gens), BatchedMLP.from_modules(crits), RunGenerators(seeds), latent_dim)

    @property
    def num_runs(self):
        return len(self.rngs)

    def model(self, x=None, n=None):
        """z ~ N(0, I) from each run's generator; x = G_s(z). Observed ``x`` (S, n, ...) only sets n."""
        n = int(x.shape[1]) if x is not None else n
        if n is None:
            raise PyprogenError("n: expected a number of samples per run when x is None")
        with pyro.plate("runs", self.num_runs, dim=-2), pyro.plate("data", n, dim=-1):
            z = pyro.sample("z", RunNormal(self.rngs, n, self.latent_dim))
            return pyro.deterministic("x", self.generator(z), event_dim=1)

    def guide(self, x=None, n=None):
        """The prior over ``z`` (an implicit model has no encoder)."""
        n = int(x.shape[1]) if x is not None else n
        with pyro.plate("runs", self.num_runs, dim=-2), pyro.plate("data", n, dim=-1):
            return pyro.sample("z", RunNormal(self.rngs, n, self.latent_dim))

    @torch.no_grad()
    def generate(self, z, index=slice(None)):
        """``G(z)`` for given latents ``(S, n, latent_dim)`` (``index``: a slice of the stack)."""
        return self.generator(z, index)

    def select(self, index):
        """Copies of networks ``index`` (a list of positions) and of their runs' generators (streams continue)."""
        return StackedGAN(self.generator.select(index), self.critic.select(index), self.rngs.select(index),
                          self.latent_dim)
