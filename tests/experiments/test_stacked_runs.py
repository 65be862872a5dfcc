"""Stacked runs trained by AdversarialSVI: a run stacked with others equals the run alone, for every
registered adversarial loss; one run equals a hand-written PyTorch loop; a selected sub-stack continues."""
import pytest
import torch

from pyprogen.data.targets import parse_target
from pyprogen.experiments.stability import ACTIVATION, make_stack, study_config
from pyprogen.experiments.stacked_runs import EVAL_OFFSET, StackedAdversarialSVI, training_data
from pyprogen.infer import ADVERSARIAL_LOSSES, AdversarialSVI, adversarial_loss
from pyprogen.infer.penalties import interpolation_noise
from pyprogen.nn import mlp

#: every loss the package registers (losses a test module registers for itself are left out)
PACKAGE_LOSSES = sorted(n for n, cls in ADVERSARIAL_LOSSES.items() if cls.__module__.startswith("pyprogen."))
STEPS = 3


@pytest.fixture(scope="module")
def setup():
    cfg = dict(study_config(quick=True), batch_size=32, train_size=256, trajectory_samples=200)
    dists = {t: parse_target(t) for t in cfg["targets"]}
    return cfg, dists


def test_every_known_loss_is_covered():
    assert {"gan", "ns-gan", "wgan", "wgan-gp", "wgan-lp", "gan-dp", "r2"} <= set(PACKAGE_LOSSES)


@pytest.mark.parametrize("method", PACKAGE_LOSSES)
def test_stacked_run_equals_the_run_alone(setup, method):
    """4 runs (2 targets x 2 lrs x distinct seeds) in one stack == each run trained alone, every parameter."""
    cfg, dists = setup
    runs = [dict(target=t, method=method, lr=lr, seed=s)
            for s, (t, lr) in enumerate((t, lr) for t in cfg["targets"] for lr in (1e-4, 1e-2))]
    stack = make_stack(runs, cfg, dists)
    assert isinstance(stack.svi, AdversarialSVI)
    for _ in range(STEPS):
        terms = stack.step()
    assert {"gen_loss", "critic_loss", "penalty"} <= set(terms)
    for i, run in enumerate(runs):
        alone = make_stack([run], cfg, dists)
        for _ in range(STEPS):
            alone.step()
        for (name, p_stack), p_alone in zip(stack.model.named_parameters(), alone.model.parameters()):
            torch.testing.assert_close(p_stack[i], p_alone[0], rtol=0, atol=1e-5, msg=f"{run}: {name}")


@pytest.mark.parametrize("method", ["gan-dp", "wgan-gp"])
def test_one_run_equals_a_hand_written_pytorch_loop(setup, method):
    """One real minibatch per generator step, then critic_steps x (fresh fakes, ε), then fresh fakes for the
    generator, all from Generator(seed); plain nets and the loss's optimiser at the run's lr."""
    cfg, dists = setup
    run = dict(target=cfg["targets"][1], method=method, lr=1e-3, seed=3)
    loss = adversarial_loss(method)
    stack = make_stack([run], cfg, dists)
    stack.train(1)

    torch.manual_seed(3)
    G = mlp([cfg["latent_dim"], *cfg["hidden"], 1], ACTIVATION)
    D = mlp([1, *cfg["hidden"], 1], ACTIVATION)
    g_opt, d_opt = loss.make_generator_optimizer(G.parameters(), 1e-3), loss.make_critic_optimizer(D.parameters(), 1e-3)
    data = training_data(dists[run["target"]], 3, cfg["train_size"])
    rng = torch.Generator().manual_seed(3)
    b, k = cfg["batch_size"], cfg["latent_dim"]
    with interpolation_noise(lambda shape, dtype, device: torch.rand(shape, generator=rng, dtype=dtype)):
        for _ in range(cfg["steps_per_epoch"]):
            real = data[torch.randint(len(data), (b,), generator=rng)].unsqueeze(-1)
            for _ in range(loss.critic_steps):
                fake = G(torch.randn(b, k, generator=rng)).detach()
                d_opt.zero_grad()
                loss.critic_loss(D, real, fake)[0].backward()
                d_opt.step()
            g_opt.zero_grad()
            loss.generator_loss(D, G(torch.randn(b, k, generator=rng))).backward()
            g_opt.step()
    with torch.no_grad():
        x = G(torch.randn(cfg["trajectory_samples"], k, generator=torch.Generator().manual_seed(3 + EVAL_OFFSET)))[:, 0]
    assert float(stack.trajectory["mean"][-1][0]) == pytest.approx(float(x.mean()), abs=1e-4)
    assert float(stack.trajectory["std"][-1][0]) == pytest.approx(float(x.std()), abs=1e-4)
    torch.testing.assert_close(stack.model.generator.layers[0].weight[0].detach(), G[0].weight.detach().t(),
                               rtol=0, atol=1e-5)
    torch.testing.assert_close(stack.model.critic.layers[-1].weight[0].detach(), D[-1].weight.detach().t(),
                               rtol=0, atol=1e-5)


def test_a_selected_sub_stack_continues_its_runs(setup):
    """select() keeps optimiser state, RNG streams and trajectory: continuing equals the full stack continuing."""
    cfg, dists = setup
    runs = [dict(target=cfg["targets"][0], method="wgan-gp", lr=lr, seed=s) for lr in (1e-4, 1e-3) for s in (0, 1)]
    full = make_stack(runs, cfg, dists)
    full.record()
    for _ in range(2):
        full.step()
    sub = full.select([3, 1])
    for _ in range(2):
        full.step()
        sub.step()
    assert sub.runs == [runs[3], runs[1]] and len(sub.trajectory["mean"]) == 1
    for p_full, p_sub in zip(full.model.parameters(), sub.model.parameters()):
        torch.testing.assert_close(p_sub, p_full[[3, 1]], rtol=0, atol=1e-5)


def test_parameter_capture_consumes_no_run_draws(setup):
    cfg, dists = setup
    run = dict(target=cfg["targets"][0], method="gan", lr=1e-3, seed=5)
    stack = make_stack([run], cfg, dists)
    assert isinstance(stack.svi, StackedAdversarialSVI)
    stack.svi.initialise(stack.data[:, :4, None])
    expected = torch.randint(cfg["train_size"], (cfg["batch_size"],), generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(stack.model.rngs.randint(cfg["train_size"], (cfg["batch_size"],))[0], expected)
