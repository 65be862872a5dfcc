"""Multi-process training (torch.distributed, gloo on CPU): exactness against one process,
rank-0-only files, exact resume, sharding, seeds, the CLI's ``--nproc`` and CUDA placement.

The 2-process runs start with ``torch.multiprocessing.spawn`` on a free loopback port; one spawn
runs every scenario so the test pays the process start-up once.
"""
import importlib
import json
import os
import signal
import subprocess
import sys

import pyro
import pytest
import torch

from pyprogen.cli import main
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit
from pyprogen.train.distributed import ShardedBatches, rank_seed
from pyprogen.train.loop import epoch_batches as _batches
from pyprogen.train.global_noise import GlobalBatchNoise
from pyprogen.train.launch import spawn, strip_option, torchrun_command
from pyprogen.train.preemption import Preempted

optim_hooks = importlib.import_module("torch.optim.optimizer")

# 12 Bernoulli pixels with distinct rates (VAE) and a 2-D two-blob cloud (GAN); fixed by seed 0
_g = torch.Generator().manual_seed(0)
VAE_DATA = (torch.rand(200, 12, generator=_g) < torch.linspace(0.1, 0.9, 12)).float()
GAN_DATA = (torch.randn(160, 2, generator=_g) * 0.3
            + torch.tensor([[1.5, -1.0]]) * torch.sign(torch.randn(160, 1, generator=_g)))


def vae_run(**kw):
    """VAE: 2 epochs x 4 global batches of 50, Trace_ELBO, noise shared row by row across ranks
    (the JIT default loss would run uncompiled under the handler, see global_noise.py)."""
    set_seed(1)
    model = build("vae", (12,), latent_dim=2, hidden=(16,))
    with GlobalBatchNoise(seed=7):
        history = fit(model, VAE_DATA, loss="elbo", epochs=2, batch_size=50, lr=0.01, seed=3, progress=False, **kw)
    return model, history


def gan_run():
    """GAN-DP (R1 penalty, double backward): 2 epochs x 4 global batches of 40."""
    set_seed(1)
    model = build("gan", (2,), latent_dim=2, hidden=(16, 16))
    with GlobalBatchNoise(seed=7):
        history = fit(model, GAN_DATA, loss="gan-dp", epochs=2, batch_size=40, lr=1e-3, seed=3, progress=False)
    return model, history


def plain_vae(seed_init=1):
    set_seed(seed_init)
    return build("vae", (12,), latent_dim=2, hidden=(16,))


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(tmp):
    """Every scenario in one process group; rank 0 saves what the test compares."""
    rank = torch.distributed.get_rank()
    results = {}
    pyro.clear_param_store()
    vae, vae_hist = vae_run()
    results["vae"], results["vae_losses"] = state(vae), vae_hist.losses
    pyro.clear_param_store()
    gan, gan_hist = gan_run()
    results["gan"], results["gan_losses"] = state(gan), [e["gen_loss"] for e in gan_hist]
    # ordinary distributed runs (per-rank noise, the VAE's default JIT loss): uninterrupted vs resumed
    pyro.clear_param_store()
    full = plain_vae()
    fit(full, VAE_DATA, epochs=2, batch_size=50, seed=4, out=os.path.join(tmp, "a"), progress=False)
    pyro.clear_param_store()
    part = plain_vae()
    fit(part, VAE_DATA, epochs=1, batch_size=50, seed=4, out=os.path.join(tmp, "b"), progress=False)
    pyro.clear_param_store()
    resumed = plain_vae(seed_init=123)  # everything must come from the checkpoint
    fit(resumed, VAE_DATA, epochs=2, batch_size=50, seed=4, out=os.path.join(tmp, "b"), resume=True, progress=False)
    results["full"], results["resumed"] = state(full), state(resumed)
    preemption_scenario(tmp, results)
    # every rank's parameters, to check that the ranks agree
    gathered = [None, None]
    torch.distributed.all_gather_object(gathered, {"vae": results["vae"], "full": results["full"],
                                                   "stopped": results["stopped"], "elastic": results["elastic"]})
    results["ranks"] = gathered
    if rank == 0:
        torch.save(results, os.path.join(tmp, "results.pt"))


def preemption_scenario(tmp, results):
    """SIGTERM to rank 1 alone, inside its 3rd step of epoch 2: both ranks checkpoint after that step
    and stop (143); then restarted torchrun workers (same run id) resume by themselves."""
    os.environ["TORCHELASTIC_RUN_ID"] = "test-run"
    count = [0]

    def sigterm_rank1(*args):
        count[0] += 1
        if count[0] == 3 + 4 and torch.distributed.get_rank() == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    handle = optim_hooks.register_optimizer_step_pre_hook(sigterm_rank1)
    pyro.clear_param_store()
    try:
        fit(plain_vae(), VAE_DATA, epochs=2, batch_size=50, seed=4, out=os.path.join(tmp, "p"), progress=False)
        results["stopped"] = None
    except Preempted as exc:
        results["stopped"] = exc.code
    finally:
        handle.remove()
    torch.distributed.barrier()  # rank 0 has written the checkpoint
    ckpt = torch.load(os.path.join(tmp, "p", "checkpoint.pt"), weights_only=True)
    results["stop_point"] = (ckpt["epoch"], ckpt["position"]["step"], len(ckpt["rng_ranks"]), ckpt["elastic_run_id"])
    # only rank 1's agent counts a restart (rank 0 as on a replacement node, whose new agent counts from 0)
    os.environ["TORCHELASTIC_RESTART_COUNT"] = str(torch.distributed.get_rank())
    try:
        pyro.clear_param_store()
        resumed = plain_vae(seed_init=123)
        fit(resumed, VAE_DATA, epochs=2, batch_size=50, seed=4, out=os.path.join(tmp, "p"), progress=False)
    finally:
        del os.environ["TORCHELASTIC_RESTART_COUNT"], os.environ["TORCHELASTIC_RUN_ID"]
    results["elastic"] = state(resumed)


@pytest.fixture(scope="module")
def two_process(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("ddp"))
    spawn(f"{__file__}:_worker", 2, tmp, threads=1)  # by path: pytest's importlib mode
    return tmp, torch.load(os.path.join(tmp, "results.pt"), weights_only=True)


def assert_close(a, b, atol):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol, msg=k)


def test_two_process_vae_equals_one_process_with_same_global_batch(two_process):
    _, res = two_process
    model, history = vae_run()
    # float32 sums over 25 + 25 rows instead of 50 rows differ by ~1 ulp; Adam keeps that at ~1e-6
    assert_close(res["vae"], state(model), atol=2e-5)
    assert res["vae_losses"] == pytest.approx(history.losses, rel=1e-5)  # the global mean per point
    assert max((res["vae"][k] - state(plain_vae())[k]).abs().max() for k in res["vae"]) > 1e-2  # it trained


def test_two_process_gan_dp_equals_one_process(two_process):
    _, res = two_process
    model, history = gan_run()
    assert_close(res["gan"], state(model), atol=2e-5)
    assert res["gan_losses"] == pytest.approx([e["gen_loss"] for e in history], rel=1e-4)


def test_ranks_hold_identical_parameters(two_process):
    _, res = two_process
    r0, r1 = res["ranks"]
    for name in ("vae", "full"):
        for k in r0[name]:
            assert torch.equal(r0[name][k], r1[name][k]), (name, k)


def test_distributed_resume_equals_uninterrupted_and_rank0_writes_once(two_process):
    tmp, res = two_process
    for k in res["full"]:
        assert torch.equal(res["full"][k], res["resumed"][k]), k
    for run in ("a", "b"):
        files = sorted(f for f in os.listdir(os.path.join(tmp, run)) if not f.startswith("."))
        assert files == ["checkpoint.pt", "metrics.json"]  # no per-rank copies, no torn temp files
        entries = json.loads(open(os.path.join(tmp, run, "metrics.json")).read())
        assert [e["epoch"] for e in entries] == [1, 2]
        ckpt = torch.load(os.path.join(tmp, run, "checkpoint.pt"), weights_only=True)
        assert len(ckpt["rng_ranks"]) == 2  # both ranks' RNG states, for an exact resume
        assert not torch.equal(ckpt["rng_ranks"][0]["torch"], ckpt["rng_ranks"][1]["torch"])


def test_signal_to_one_rank_stops_both_at_one_step_and_elastic_restart_resumes_exactly(two_process):
    tmp, res = two_process
    r0, r1 = res["ranks"]
    assert r0["stopped"] == r1["stopped"] == 143
    assert res["stop_point"] == (1, 3, 2, "test-run")  # 4 steps per epoch: epoch 2, step 3; both ranks' RNGs
    for k, v in res["full"].items():  # the uninterrupted 2-process run of the same seeds
        assert torch.equal(v, r0["elastic"][k]) and torch.equal(v, r1["elastic"][k]), k


def test_one_process_resume_of_two_process_checkpoint_is_refused(two_process):
    tmp, _ = two_process
    from pyprogen.errors import PyprogenError

    with pytest.raises(PyprogenError, match="written by 2 process"):
        fit(plain_vae(), VAE_DATA, epochs=3, batch_size=50, seed=4, out=os.path.join(tmp, "b"), resume=True,
            progress=False)


def test_sharded_batches_partition_each_global_batch():
    make = lambda e: _batches(100, 20, 5, e)  # noqa: E731
    shards = [ShardedBatches(make, 20, rank_=r, world=2) for r in range(2)]
    for epoch in (0, 3):
        for s in shards:
            s.set_epoch(epoch)
        for glob, a, b in zip(make(epoch), *shards):
            assert torch.equal(torch.cat([a, b]), glob) and len(a) == len(b) == 10
    assert not torch.equal(make(0)[0], make(3)[0])  # set_epoch reshuffles
    from pyprogen.errors import PyprogenError

    with pytest.raises(PyprogenError, match="batch_size"):
        ShardedBatches(make, 21, rank_=0, world=2)


def test_rank_seeds_reproducible_and_distinct():
    assert rank_seed(5, 0) == 5  # one process: the run seed itself
    assert rank_seed(5, 1) == rank_seed(5, 1)
    assert len({rank_seed(5, r) for r in range(8)} | {rank_seed(6, r) for r in range(8)}) == 16


def test_global_noise_in_one_process_is_the_global_draw():
    """With W = 1 the handler's draw is z = loc + scale·ε with ε from Generator(seed·1000003 + k)."""
    loc, scale = torch.randn(5, 3), torch.rand(5, 3) + 0.5

    def guide():
        with pyro.plate("data", 5):
            return pyro.sample("z", pyro.distributions.Normal(loc, scale).to_event(1))

    with GlobalBatchNoise(seed=2):
        z0, z1 = guide(), guide()
    eps0 = torch.randn(5, 3, generator=torch.Generator().manual_seed(2 * 1_000_003))
    eps1 = torch.randn(5, 3, generator=torch.Generator().manual_seed(2 * 1_000_003 + 1))
    torch.testing.assert_close(z0, loc + scale * eps0, rtol=0, atol=1e-6)
    torch.testing.assert_close(z1, loc + scale * eps1, rtol=0, atol=1e-6)


def test_compiled_loss_runs_uncompiled_under_global_noise():
    """Under the handler the recorded JIT mean-field ELBO runs its program eagerly (infer/compiled.py): the
    handler draws the noise, and the run equals TraceMeanField_ELBO's exactly (global_noise.py)."""
    from pyro.infer import TraceMeanField_ELBO

    from pyprogen.infer import JitTraceMeanField_ELBO

    def run(loss):
        model = plain_vae()
        with GlobalBatchNoise(seed=7):
            history = fit(model, VAE_DATA, loss=loss, epochs=1, batch_size=50, lr=0.01, seed=3, progress=False)
        return model, history

    (jit, h_jit), (eager, h_eager) = run(JitTraceMeanField_ELBO()), run(TraceMeanField_ELBO())
    assert h_jit[0]["loss"] == h_eager[0]["loss"]
    for a, b in zip(jit.parameters(), eager.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_torchrun_command_drops_nproc():
    assert strip_option(["train", "vae", "--nproc", "2", "--nproc=3", "--epochs", "1"], "--nproc") == \
        ["train", "vae", "--epochs", "1"]
    cmd = torchrun_command(2, ["train", "vae", "--nproc", "2"])
    assert cmd[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "pyprogen",
                       "train", "vae"]


@pytest.mark.slow  # three fresh interpreters (torchrun + 2 workers): ~12 s of CPU, 30-70 s on a loaded machine
def test_cli_nproc_2_end_to_end(tmp_path):
    """``pyprogen train ... --nproc 2`` re-launches through torchrun: one set of files, gathered evaluation."""
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "pyprogen", "train", "vae", "--data", "ring8", "--epochs", "1",
                           "--batch-size", "500", "--latent-dim", "2", "--num-particles", "10", "--out", str(out),
                           "--no-progress", "--nproc", "2"], capture_output=True, text=True, env=env, timeout=120)
    # the workers' own error comes first in stderr, torchrun's summary last: show both
    assert proc.returncode == 0, proc.stderr[:3000] + "\n...\n" + proc.stderr[-1500:]
    assert proc.stdout.count("| nll_nats |") == 1  # rank 0 alone prints
    assert sorted(f for f in os.listdir(out) if not f.startswith(".")) == \
        ["checkpoint.pt", "config.toml", "loss.png", "metrics.json", "samples.png"]
    final = json.loads((out / "metrics.json").read_text())[-1]
    assert final["split"] == "test" and final["num_points"] == 1000  # 500 + 500 rows gathered from 2 ranks
    assert final["nll_nats"] == pytest.approx(final["bits_per_dim"] * 2 * 0.6931471805599453, rel=1e-9)


def test_cli_cuda_without_gpu_is_a_clear_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists")
    assert main(["train", "vae", "--data", "ring8", "--device", "cuda", "--nproc", "2"]) == 2
    assert "cuda was asked for but no CUDA device" in capsys.readouterr().err


def test_cli_nproc_needs_divisible_batch(capsys):
    assert main(["train", "vae", "--data", "ring8", "--batch-size", "5", "--nproc", "2"]) == 2
    assert "batch-size: expected a multiple of --nproc 2" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_fit_puts_model_data_and_param_store_on_gpu():
    from pyprogen.train.distributed import move_param_store

    model = plain_vae().to("cuda")
    pyro.param("extra", torch.ones(3))  # a Pyro param outside the model, created on the CPU
    move_param_store("cuda")
    assert pyro.param("extra").is_cuda and float(pyro.param("extra").sum()) == 3.0
    fit(model, VAE_DATA, epochs=1, batch_size=50, progress=False)
    assert all(p.is_cuda for p in model.parameters())
    assert all(v.is_cuda for _, v in pyro.get_param_store().items())


def _cuda_worker(tmp):
    model = plain_vae().to("cuda")
    fit(model, VAE_DATA.cuda(), epochs=1, batch_size=50, progress=False)
    gathered = [None, None]
    torch.distributed.all_gather_object(gathered, {k: v.cpu() for k, v in state(model).items()})
    if torch.distributed.get_rank() == 0:
        torch.save(gathered, os.path.join(tmp, "cuda.pt"))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices for nccl")
def test_two_gpu_nccl_ranks_agree(tmp_path):
    spawn(f"{__file__}:_cuda_worker", 2, str(tmp_path), device="cuda")
    r0, r1 = torch.load(tmp_path / "cuda.pt", weights_only=True)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
