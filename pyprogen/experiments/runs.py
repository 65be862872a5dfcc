"""One run directory: train a model by name on a named data set, evaluate it, sample from it.

This is what ``pyprogen train|evaluate|sample`` do; the CLI only parses and prints.
"""
import contextlib
import os

import numpy as np
import torch

from ..data import TOY_SETS, load_dataset, toy_modes
from ..errors import PyprogenError
from ..io import write_bytes
from ..metrics.evaluate import evaluate_model
from ..models import MODELS, build
from ..plotting import plot_history, plot_samples
from ..seeding import set_seed
from ..train import fit, load
from ..train.checkpoint import checkpoint_path, write_metrics
from ..train.fit import as_training_tensor
from ..train import distributed
from ..train.lock import RunLock

#: keyword arguments a family needs from the training data (registry, not a ladder)
DATA_DEFAULTS = {"beta-tcvae": lambda train: {"dataset_size": len(train)}}


def resolve_device(device):
    if device not in ("cpu", "cuda"):
        raise PyprogenError(f"device: expected cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise PyprogenError("device: cuda was asked for but no CUDA device is available (use --device cpu)")
    return torch.device(device)


def model_kwargs(name, train, *, latent_dim=None, beta=None, likelihood=None, net=None):
    """Keyword arguments for ``build(name, ...)`` from the flags and the data (likelihood chosen by data)."""
    MODELS.lookup(name)
    given = {"latent_dim": latent_dim, "beta": beta, "net": net}
    kw = {k: v for k, v in given.items() if v is not None}
    kw.update(DATA_DEFAULTS.get(name, lambda t: {})(train))
    with torch.random.fork_rng(devices=[]):
        probe = build(name, train.data_shape, **kw)
    if getattr(probe, "likelihood", None) is not None:
        kw["likelihood"] = likelihood or ("bernoulli" if train.binary else "gaussian")
    elif likelihood is not None:
        raise PyprogenError(f"likelihood: model {name!r} has no explicit likelihood")
    return kw


def modes_for(data_name):
    return toy_modes(data_name) if data_name in TOY_SETS else None


def train_run(model_name, data, *, data_dir=None, loss=None, epochs=10, batch_size=128, lr=1e-3, latent_dim=None,
              beta=None, likelihood=None, net=None, seed=0, out="runs/latest", resume=False, device="cpu",
              num_particles=1000, eval_points=1000, progress=True, grad_clip=None):
    """Train, write checkpoint/metrics/figures into ``out``, return the final test evaluation."""
    device = resolve_device(device)
    # under torchrun: join the process group (gloo/nccl); rank 0 alone locks and writes `out`
    lock = RunLock(out) if distributed.is_main_process() else contextlib.nullcontext()
    with distributed.process_group(device), lock:  # one training per directory: a second one fails here, at once
        train = load_dataset(data, "train", data_dir)
        test = load_dataset(data, "test", data_dir)
        if resume and os.path.isfile(checkpoint_path(out)):
            model = load(out)
            if model.config.get("name") != model_name:
                raise PyprogenError(f"resume: {out} holds a {model.config.get('name')!r} model, not {model_name!r}")
        else:
            kw = model_kwargs(model_name, train, latent_dim=latent_dim, beta=beta, likelihood=likelihood, net=net)
            set_seed(seed)
            model = build(model_name, train.data_shape, **kw)
            model.config["data"] = data
        model.to(device)
        distributed.move_param_store(device)  # Pyro params outside the model's modules, too
        history = fit(model, train.x, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, out=out,
                      resume=resume, progress=progress, grad_clip=grad_clip)
        set_seed(distributed.rank_seed(seed))  # each rank evaluates its shard of the test set; gathered
        result = distributed.reduce_evaluation(evaluate_model(
            model, distributed.shard_rows(test.x[:eval_points]).to(device), num_particles=num_particles,
            modes=modes_for(data)))
        if not distributed.is_main_process():
            return result
        write_metrics(out, [*history, {"epoch": history[-1]["epoch"], "split": "test", **result}])
        plot_samples(_samples_for_figure(model, 64 if len(train.data_shape) == 3 else 2000), os.path.join(out, "samples.png"),
                     title=f"{model_name} samples", reference=None if len(train.data_shape) == 3 else test.x)
        plot_history(history, os.path.join(out, "loss.png"), title=f"{model_name} on {data}")
        return result


def _samples_for_figure(model, n):
    """Likelihood means where the model has them (smoother grids), else plain samples."""
    try:
        return model.sample(n, mean=True).cpu()
    except TypeError:
        return model.sample(n).cpu()


def evaluate_run(run_dir, *, data=None, data_dir=None, num_particles=1000):
    model = load(run_dir)
    data = data or model.config.get("data")
    if data is None:
        raise PyprogenError("data: the run does not record its data set; pass --data")
    test = load_dataset(data, "test", data_dir)
    x = as_training_tensor(model, test.x, "data")  # shape and value range checked against the model
    set_seed(0)
    return evaluate_model(model, x, num_particles=num_particles, modes=modes_for(data))


def sample_run(run_dir, n, path, seed=0):
    """``n`` samples to ``path``: a PNG grid/scatter/histogram or a ``.npy`` array."""
    if not path.endswith((".png", ".npy")):
        raise PyprogenError(f"out: expected a .png or .npy file name, got {path!r}")
    model = load(run_dir)
    set_seed(seed)
    if path.endswith(".npy"):
        import io

        buf = io.BytesIO()
        np.save(buf, model.sample(n).cpu().numpy(), allow_pickle=False)
        write_bytes(path, buf.getvalue())
    else:
        plot_samples(_samples_for_figure(model, n), path, title=f"{model.config['name']}: {n} samples")
