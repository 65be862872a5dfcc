"""Many small GAN runs trained at once through the common API: a :class:`StackedGAN` stepped by
:class:`AdversarialSVI` (the stability study's engine).

- :class:`StackedAdversarialSVI`: ``AdversarialSVI`` for data of shape ``(S, B, *data_shape)``
  (one minibatch per run) whose random draws all come from the runs' own generators: the fakes
  (the model's ``"z"`` site), and the ε of interpolation penalties (WGAN-GP, WGAN-LP) through
  :func:`pyprogen.infer.penalties.interpolation_noise`. Capturing parameters consumes no draws.
- :func:`per_network_lr`: per-run learning rates on a stack. Parameters of a stack are single
  tensors ``(S, ...)``, so per-run parameter groups are impossible; instead the loss's optimiser
  runs at lr = 1 and a step hook scales each network's change by its own lr. Exact for the
  optimisers the losses use (Adam, RMSprop, SGD without weight decay: their state does not depend
  on lr, and their step is lr × a direction), up to float rounding; tested against plain Adam.
- :class:`RunStack`: runs (dicts with target, method, lr, seed; one method per stack), their
  training sets, the driver ``train(epochs)`` (one ``step(minibatch)`` per generator update; the
  step does the critic updates), the per-epoch trajectory and the final draws.
"""
import torch

from ..infer.adversarial_loss import adversarial_loss
from ..infer.adversarial_svi import AdversarialSVI
from ..infer.penalties import interpolation_noise
from ..models.stacked_gan import StackedGAN
from ..seeding import seeded

EVAL_OFFSET, FINAL_OFFSET = 1_000_003, 2_000_003


def per_network_lr(optimizer, lr):
    """Scale each step of ``optimizer`` (built at lr = 1 over stacked parameters ``(S, ...)``) by ``lr[s]``
    for network ``s``; returns ``optimizer`` itself (an ordinary optimiser, with step hooks attached)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    lr = torch.as_tensor(lr, dtype=torch.float32)
    before = []

    def save(opt, args, kwargs):
        before[:] = [p.detach().clone() for p in params]

    @torch.no_grad()
    def scale(opt, args, kwargs):
        for p, b in zip(params, before):
            p.copy_(b + (p - b) * lr.view(-1, *([1] * (p.dim() - 1))).to(p))
        before.clear()

    optimizer.register_step_pre_hook(save)
    optimizer.register_step_post_hook(scale)
    optimizer.network_lr = lr
    return optimizer


class StackedAdversarialSVI(AdversarialSVI):
    """``AdversarialSVI`` over a :class:`StackedGAN`: minibatches ``(S, B, ...)``, per-run lrs, per-run ε."""

    def __init__(self, stack, loss, lr):
        loss = adversarial_loss(loss)
        super().__init__(stack.model, stack.critic,
                         lambda params: per_network_lr(loss.make_generator_optimizer(params, 1.0), lr),
                         lambda params: per_network_lr(loss.make_critic_optimizer(params, 1.0), lr),
                         loss, modules=[stack])
        self.rngs = stack.rngs

    def initialise(self, x=None):
        with self.rngs.fork():  # the model runs once to capture parameters: no run's stream moves
            super().initialise(x)

    def critic_inputs(self, x):
        with torch.no_grad():
            return x, self.generate(x.shape[1])

    def generator_objective(self, x):
        gen_loss = self.loss.generator_loss(self.critic, self.generate(x.shape[1]))
        return gen_loss, {"gen_loss": gen_loss}

    def step(self, x):
        """As ``AdversarialSVI.step``; the reported terms are summed over the runs."""
        with interpolation_noise(self.rngs.uniform):
            return super().step(x)

    def evaluate_loss(self, x):
        with interpolation_noise(self.rngs.uniform):
            return super().evaluate_loss(x)

    def select(self, stack, index, lr):
        """A step over ``stack`` (= the old stack's runs ``index``) carrying those runs' optimiser state."""
        new = StackedAdversarialSVI(stack, self.loss, lr)
        new.initialise()
        for old_opt, new_opt in ((self.gen_optimizer, new.gen_optimizer), (self.critic_optimizer, new.critic_optimizer)):
            old_params = [p for g in old_opt.param_groups for p in g["params"]]
            new_params = [p for g in new_opt.param_groups for p in g["params"]]
            for old, p in zip(old_params, new_params):
                new_opt.state[p] = {k: (v[index].clone() if torch.is_tensor(v) and v.shape == old.shape
                                        else v.clone() if torch.is_tensor(v) else v)
                                    for k, v in old_opt.state.get(old, {}).items()}
        return new


def training_data(dist, seed, size):
    """The run's training set: ``size`` target draws after ``torch.manual_seed(seed)`` (RNG restored)."""
    with seeded(seed):
        return dist.sample((size,)).float()


class RunStack:
    """Runs of one method (dicts with target, method, lr, seed) trained as one :class:`StackedGAN`.

    ``cfg`` supplies latent_dim, hidden, batch_size, train_size, steps_per_epoch, trajectory_samples,
    draws and draw_size; ``activation`` is the networks' activation (a module factory).
    """

    def __init__(self, runs, loss, dists, cfg, activation):
        self.runs, self.cfg = list(runs), cfg
        methods = {r["method"] for r in self.runs}
        if len(methods) != 1:
            raise ValueError(f"RunStack: expected runs of one method, got {sorted(methods)}")
        self.model = StackedGAN.from_seeds([r["seed"] for r in self.runs], latent_dim=cfg["latent_dim"],
                                           hidden=cfg["hidden"], activation=activation)
        cache = {}
        for r in self.runs:
            key = (r["target"], r["seed"])
            if key not in cache:
                cache[key] = training_data(dists[r["target"]], r["seed"], cfg["train_size"])
        self.data = torch.stack([cache[(r["target"], r["seed"])] for r in self.runs])
        self.eval_z = torch.stack([torch.randn(cfg["trajectory_samples"], cfg["latent_dim"],
                                               generator=torch.Generator().manual_seed(r["seed"] + EVAL_OFFSET))
                                   for r in self.runs])
        self.lr = torch.tensor([r["lr"] for r in self.runs])
        self.svi = StackedAdversarialSVI(self.model, loss, self.lr)
        self.trajectory = {"epoch": [], "mean": [], "std": []}
        self.epoch = 0

    def minibatch(self):
        """``(S, batch_size, 1)`` training values, each run's drawn with replacement by its own generator."""
        idx = self.model.rngs.randint(self.data.shape[1], (self.cfg["batch_size"],))
        return self.data.gather(1, idx).unsqueeze(-1)

    def step(self):
        """One generator update (after the loss's critic updates) for every run."""
        return self.svi.step(self.minibatch())

    @torch.no_grad()
    def record(self):
        x = self.model.generate(self.eval_z)[..., 0]
        self.trajectory["epoch"].append(self.epoch)
        self.trajectory["mean"].append(x.mean(1))
        self.trajectory["std"].append(x.std(1))

    def train(self, epochs, on_epoch=None):
        """Train to epoch ``epochs`` (``steps_per_epoch`` generator updates each), recording the trajectory."""
        if not self.trajectory["epoch"]:
            self.record()
        while self.epoch < epochs:
            for _ in range(self.cfg["steps_per_epoch"]):
                self.step()
            self.epoch += 1
            self.record()
            if on_epoch is not None:
                on_epoch()

    @torch.no_grad()
    def final_samples(self, i, chunk=200_000):
        """``(draws, draw_size)`` generated values of run ``i`` from its own final-noise generator."""
        total = self.cfg["draws"] * self.cfg["draw_size"]
        g = torch.Generator().manual_seed(self.runs[i]["seed"] + FINAL_OFFSET)
        out = [self.model.generate(torch.randn(1, min(chunk, total - k), self.cfg["latent_dim"], generator=g),
                                   slice(i, i + 1))
               for k in range(0, total, chunk)]
        return torch.cat(out, 1).reshape(self.cfg["draws"], self.cfg["draw_size"])

    def select(self, index):
        """The stack restricted to runs ``index``, training state (optimisers, RNG streams, trajectory) included."""
        new = object.__new__(RunStack)
        new.cfg, new.epoch = self.cfg, self.epoch
        new.runs = [self.runs[i] for i in index]
        new.model = self.model.select(index)
        new.data, new.eval_z, new.lr = self.data[index], self.eval_z[index], self.lr[index]
        self.svi.initialise()
        new.svi = self.svi.select(new.model, index, new.lr)
        new.trajectory = {"epoch": list(self.trajectory["epoch"]),
                          "mean": [m[index] for m in self.trajectory["mean"]],
                          "std": [s[index] for s in self.trajectory["std"]]}
        return new
