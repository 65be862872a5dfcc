"""One run directory: train a model by name on a named data set, evaluate it, sample from it.

This is what ``pyprogen train|evaluate|sample`` do; the CLI only parses and prints. Every run
directory holds its resolved ``config.toml`` (the ``train`` flags, keys spelled as the flags, plus
a fingerprint of the training data): ``pyprogen train --config RUN/config.toml --out NEW`` trains
the same run again, and ``--resume`` refuses to continue a run with a different configuration.
"""
import contextlib
import hashlib
import os

import numpy as np
import torch

from ..config import read_toml, write_config
from ..data import TOY_SETS, DATASETS, load_dataset, toy_modes
from ..data import cifar10, image_folder  # noqa: F401  (their loaders register themselves in DATASETS)
from ..data.image_folder import DEFAULT_SIZE, load_image_folder
from ..data.semi_supervised import MISSING, balanced_rows, keep_labels
from ..errors import PyprogenError
from ..io import write_bytes
from ..metrics.evaluate import evaluate_model
from ..models import MODELS, build
from ..models.gan_recipes import gan_recipe
from ..plotting import plot_history, plot_samples, sample_label
from ..seeding import set_seed
from ..train import fit, load
from ..train.checkpoint import checkpoint_path, write_metrics
from ..train.fit import as_training_tensor
from ..train.source import takes_labels
from ..train import distributed
from ..train.lock import RunLock
from .recipes import evaluation_rows, train_defaults

#: keyword arguments a family needs from the training data (registry, not a ladder)
DATA_DEFAULTS = {"beta-tcvae": lambda train: {"dataset_size": len(train)}}
#: guide and prior options of VAE-family models (flag name -> build keyword; models/guides.py, models/priors.py)
VAE_OPTIONS = {"guide": "guide", "flow-length": "flow_length", "prior": "prior", "prior-components": "prior_components"}


def vae_options(name, probe, given):
    """Build keywords for the guide/prior flags ``given`` (flag name -> value, all set) of model ``name``, checked
    on a ``probe`` of it: one line for a model outside the VAE family (no ``guide=``/``prior=``), for
    ``--flow-length`` with the diagonal guide and for ``--prior-components`` with the standard normal prior."""
    if not given:
        return {}
    if not (hasattr(probe, "guide_name") and hasattr(probe, "prior_name")):  # the VAE and its subclasses
        flag = next(iter(given))
        raise PyprogenError(f"{flag}: model {name!r} has no {flag} option (guides and priors are for VAE-family "
                            "models: vae, beta-vae, beta-tcvae, dip-vae-i/ii, info-vae, factor-vae, wae-mmd, wae-gan)")
    if "flow-length" in given and given.get("guide", probe.guide_name) == "diagonal":
        raise PyprogenError("flow-length: applies to a flow guide (--guide iaf, planar or radial), "
                            "not to the diagonal guide")
    if "prior-components" in given and given.get("prior", probe.prior_name) == "normal":
        raise PyprogenError("prior-components: applies to a mixture prior (--prior vamp or mog), "
                            "not to the standard normal")
    return {VAE_OPTIONS[flag]: value for flag, value in given.items()}


#: per-data-set recipes of a model: ``train -> {"model": build keywords, "fit": fit settings}``
#: (``epochs``, ``batch_size``, ``lr``, ``lr_schedule``); they come before the family's recipe and
#: after the flags given (models/gan_recipes.py: ring8, grid25, mnist, and the γ rule elsewhere)
DATA_RECIPES = {"gan": gan_recipe}
#: model options of adversarial models (flag name -> build keyword); a model whose constructor
#: takes none of them refuses them in one line
GAN_OPTIONS = {"critic-lr": "critic_lr", "gamma": "gamma", "ema": "ema", "spectral-norm": "spectral_norm"}


def data_recipe(name, train):
    """``{"model": {...}, "fit": {...}}``: the per-data-set recipe of model ``name`` on ``train`` (empty: none)."""
    make = DATA_RECIPES.get(name)
    return make(train) if make is not None else {"model": {}, "fit": {}}


def _takes(model, keyword):
    import inspect

    return keyword in inspect.signature(type(model).__init__).parameters


def resolve_device(device):
    if device not in ("cpu", "cuda"):
        raise PyprogenError(f"device: expected cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise PyprogenError("device: cuda was asked for but no CUDA device is available (use --device cpu)")
    return torch.device(device)


def model_kwargs(name, train, *, latent_dim=None, beta=None, likelihood=None, net=None, vae=None, options=None):
    """Keyword arguments for ``build(name, ...)`` from the flags and the data (likelihood chosen by data).

    ``options``: GAN options by flag name (:data:`GAN_OPTIONS`; ``None`` values: not given); one line
    when the model takes none of them (``--spectral-norm`` on a model without a critic)."""
    MODELS.lookup(name)
    given = {"latent_dim": latent_dim, "beta": beta, "net": net}
    kw = {k: v for k, v in given.items() if v is not None}
    kw.update(DATA_DEFAULTS.get(name, lambda t: {})(train))
    with torch.random.fork_rng(devices=[]):
        probe = build(name, train.data_shape, **kw)
    kw.update(vae_options(name, probe, {f: v for f, v in (vae or {}).items() if v is not None}))
    for flag, value in (options or {}).items():
        if value is None:
            continue
        if not _takes(probe, GAN_OPTIONS[flag]):
            what = "no critic to normalise" if flag == "spectral-norm" else f"no {flag} option (a GAN option)"
            raise PyprogenError(f"{flag}: model {name!r} has {what}")
        kw[GAN_OPTIONS[flag]] = value
    if getattr(probe, "likelihood", None) is not None:
        kw["likelihood"] = likelihood or ("bernoulli" if train.binary else "gaussian")
    elif likelihood is not None:
        raise PyprogenError(f"likelihood: model {name!r} has no explicit likelihood")
    return kw


CONFIG = "config.toml"
#: what a resume must share with the run (config.toml keys): everything that shapes the model or the
#: run's randomness and updates; not epochs, progress, device, num-particles or where the data live
RESUME_KEYS = ("model", "data", "image-size", "loss", "latent-dim", "beta", "likelihood", "net", "batch-size",
               "lr", "grad-clip", "seed", "nproc", "kl-warmup", "free-bits", "lr-schedule", "recipe", "labels",
               "precision", *GAN_OPTIONS, *VAE_OPTIONS)
#: the training data's shape and the sha256 of its float32 bytes, recorded in config.toml
FINGERPRINT_KEYS = ("data-shape", "data-sha256")


def load_data(data, split, data_dir=None, image_size=None):
    """:func:`load_dataset`, plus a folder of images given as ``data`` (resized to ``image_size``)."""
    if isinstance(data, str) and data not in DATASETS and os.path.isdir(data):
        return load_image_folder(data, split, DEFAULT_SIZE if image_size is None else image_size)
    if image_size is not None:
        raise PyprogenError(f"image-size: applies to a folder of images given as --data DIR, not to {data!r}")
    return load_dataset(data, split, data_dir)


def data_fingerprint(x):
    """``{"data-shape": [...], "data-sha256": hex}`` of a tensor (its contiguous float32 bytes)."""
    arr = np.ascontiguousarray(x.detach().cpu().float().numpy())
    return {"data-shape": list(arr.shape), "data-sha256": hashlib.sha256(arr.data).hexdigest()}


def read_run_config(out):
    """The run's ``config.toml`` as a dict, or None for a run written before runs recorded one."""
    path = os.path.join(out, CONFIG)
    return read_toml(path, argument="resume") if os.path.isfile(path) else None


def check_resume(previous, current, keys):
    """One line naming the first key whose value differs (``None`` in ``current``: not given, the run's)."""
    for key in keys:
        now = current.get(key)
        if now is None or now == previous.get(key):
            continue
        was = previous.get(key)
        was_text = "not set" if was is None else f"{was!r}"
        raise PyprogenError(f"resume: {key} was {was_text} in the run, got {now!r}")


def training_labels(model, model_name, data, train, labels, seed):
    """``(rows, y)`` for a labelled model: the rows ``fit`` trains on and their labels, ``labels`` kept per class
    and the rest ``MISSING`` (data/semi_supervised.py, labelled rows repeated to half an epoch); ``(None, None)``
    for any other model, and for m2 on data without labels (it then trains unsupervised, y enumerated). One line:
    ``--labels`` for a model without labels or on data without labels, hidden labels for the conditional VAE."""
    if not takes_labels(model):
        if labels is not None:
            raise PyprogenError(f"labels: model {model_name!r} takes no labels (--labels is for cvae and m2)")
        return None, None
    if getattr(train, "y", None) is None:
        if getattr(model, "requires_labels", False) or labels is not None:
            raise PyprogenError(f"{'labels' if labels is not None else 'data'}: {data!r} has no labels; model "
                                f"{model_name!r} {'cannot keep any' if labels is not None else 'trains on labelled data'}"
                                " (e.g. --data mnist)")
        return None, None  # m2 without any label: unsupervised, y enumerated
    y = keep_labels(train.y, labels, seed)
    if getattr(model, "requires_labels", False) and bool((y == MISSING).any()):
        raise PyprogenError(f"labels: model {model_name!r} needs every label ({len(y)}), got {labels}; "
                            "use m2 for semi-supervised training")
    rows = balanced_rows(y)
    return rows, y[rows]


def modes_for(data_name):
    return toy_modes(data_name) if data_name in TOY_SETS else None


def train_run(model_name, data, *, data_dir=None, loss=None, epochs=None, batch_size=None, lr=None, latent_dim=None,
              beta=None, likelihood=None, net=None, seed=0, out="runs/latest", resume=False, device="cpu",
              num_particles=1000, eval_points=1000, progress=True, grad_clip=None, image_size=None,
              checkpoint_every=None, tensorboard=False, flags=None, kl_warmup=None, free_bits=None,
              lr_schedule=None, recipe=None, guide=None, flow_length=None, prior=None,
              prior_components=None, critic_lr=None, gamma=None, ema=None, spectral_norm=None, labels=None,
              precision=None):
    """Train, write checkpoint/metrics/config.toml/figures into ``out``, return the final test evaluation.

    With ``resume`` and a checkpoint in ``out``, arguments left ``None`` (``loss``, ``grad_clip``,
    ``image_size``, ...) take the run's values; any given one that differs from the run's
    ``config.toml`` (see :data:`RESUME_KEYS`), or other training data, is refused in one line.

    Arguments left ``None`` (``epochs``, ``batch_size``, ``lr``, net sizes, ``kl_warmup``, ``free_bits``,
    ``lr_schedule``) come from the model's per-data-set recipe (:data:`DATA_RECIPES`: a GAN's on ring8,
    grid25, MNIST), else from its family's ``recipe`` (experiments/recipes.py; ``"default"``) on images,
    else fit's defaults (10 epochs). ``critic_lr``, ``gamma``, ``ema``, ``spectral_norm``: GAN options
    (:class:`~pyprogen.models.GAN`), over the recipe's. ``precision``: ``"fp32"`` or ``"bf16"`` (fit's; the
    recipe's when None, else fp32). ``labels``: for a labelled model (cvae, m2), how many
    training labels to keep (None: all; m2 trains on the rest as unlabelled; see :func:`training_labels`).

    :param flags: ``{flag name: value}`` of every ``pyprogen train`` flag (the CLI passes them), written
        to ``config.toml`` with the values resolved here; without it the arguments above are written.
    """
    device_name = device
    device = resolve_device(device)
    # under torchrun: join the process group (gloo/nccl); rank 0 alone locks and writes `out`
    lock = RunLock(out) if distributed.is_main_process() else contextlib.nullcontext()
    with distributed.process_group(device), lock:  # one training per directory: a second one fails here, at once
        resuming = resume and os.path.isfile(checkpoint_path(out))
        given = {"model": model_name, "data": data, "image-size": image_size,
                 "loss": loss if isinstance(loss, str) else None,  # an estimator object is not compared
                 "latent-dim": latent_dim, "beta": beta, "likelihood": likelihood, "net": net,
                 "batch-size": batch_size, "lr": lr, "grad-clip": grad_clip, "seed": seed,
                 "nproc": distributed.world_size(), "kl-warmup": kl_warmup, "free-bits": free_bits,
                 "lr-schedule": lr_schedule, "recipe": recipe, "guide": guide, "flow-length": flow_length,
                 "prior": prior, "prior-components": prior_components, "critic-lr": critic_lr, "gamma": gamma,
                 "ema": ema, "spectral-norm": spectral_norm or None, "labels": labels, "precision": precision}
        previous = read_run_config(out) if resuming else None
        if previous is not None:
            check_resume(previous, given, RESUME_KEYS)
            loss = previous.get("loss") if loss is None else loss
            grad_clip = previous.get("grad-clip") if grad_clip is None else grad_clip
            image_size = previous.get("image-size") if image_size is None else image_size
            epochs = previous.get("epochs") if epochs is None else epochs
            labels = previous.get("labels") if labels is None else labels
            batch_size, lr, recipe, kl_warmup, free_bits, lr_schedule = (previous.get(k) if v is None else v for k, v in (
                ("batch-size", batch_size), ("lr", lr), ("recipe", recipe), ("kl-warmup", kl_warmup),
                ("free-bits", free_bits), ("lr-schedule", lr_schedule)))  # absent: the run had none
            precision = precision or previous.get("precision", "fp32")  # absent: a run from before the option
        train = load_data(data, "train", data_dir, image_size)
        test = load_data(data, "test", data_dir, image_size)
        recipe_kw, recipe_fit = train_defaults(model_name, train.data_shape, recipe or "default")
        own = data_recipe(model_name, train) if (recipe or "default") == "default" else {"model": {}, "fit": {}}
        recipe_kw, recipe_fit = {**recipe_kw, **own["model"]}, {**recipe_fit, **own["fit"]}  # the data set's first
        epochs = epochs or recipe_fit.get("epochs", 10)
        batch_size, lr = batch_size or recipe_fit["batch_size"], lr or recipe_fit["lr"]
        if not resuming:  # a resumed run keeps its own options (read from its config.toml above)
            kl_warmup, free_bits, lr_schedule = (v if v is not None else recipe_fit[k] for k, v in (
                ("kl_warmup", kl_warmup), ("free_bits", free_bits), ("lr_schedule", lr_schedule)))
            precision = precision or recipe_fit.get("precision", "fp32")
        fingerprint = data_fingerprint(train.x)
        if previous is not None:
            check_resume(previous, fingerprint, FINGERPRINT_KEYS)
        if resuming:
            model = load(out)
            if model.config.get("name") != model_name:
                raise PyprogenError(f"resume: {out} holds a {model.config.get('name')!r} model, not {model_name!r}")
        else:
            options = {"critic-lr": critic_lr, "gamma": gamma, "ema": ema, "spectral-norm": spectral_norm or None}
            vae = {"guide": guide, "flow-length": flow_length, "prior": prior, "prior-components": prior_components}
            kw = {**recipe_kw, **model_kwargs(model_name, train, latent_dim=latent_dim, beta=beta, likelihood=likelihood,
                                              net=net, vae=vae, options=options)}
            set_seed(seed)
            model = build(model_name, train.data_shape, **kw)
            model.config["data"] = data
            if image_size is not None:
                model.config["image_size"] = image_size
        rows, y_train = training_labels(model, model_name, data, train, labels, seed)
        x_train = train.x if rows is None else train.x[rows]
        config = None
        if distributed.is_main_process():
            kwargs = model.config.get("kwargs", {})
            config = dict(flags) if flags is not None else {  # the CLI's flags: a new flag is recorded by itself
                "data-dir": data_dir, "epochs": epochs, "batch-size": batch_size, "seed": seed,
                "device": device_name, "num-particles": num_particles, "no-progress": not progress}
            config.update({"model": model_name, "data": data, "image-size": image_size,  # as resolved here
                           "loss": loss if isinstance(loss, str) else None, "lr": float(lr), "grad-clip": grad_clip,
                           "latent-dim": kwargs.get("latent_dim"), "beta": kwargs.get("beta"),
                           "likelihood": kwargs.get("likelihood"), "net": kwargs.get("net"),
                           "nproc": distributed.world_size(), "batch-size": batch_size, "kl-warmup": kl_warmup,
                           "free-bits": free_bits, "lr-schedule": lr_schedule, "recipe": recipe or "default",
                           "epochs": epochs, "labels": labels, "precision": precision, **fingerprint})
            config.update({flag: kwargs[key] for flag, key in GAN_OPTIONS.items()  # a GAN's, the recipe's included
                           if kwargs.get(key) is not None})
            config.update({flag: kwargs[key] for flag, key in VAE_OPTIONS.items() if kwargs.get(key) is not None})
            config = {k: v for k, v in config.items() if _plain(v)}
        with _run_config(out, config, header=f"pyprogen train: {model_name} on {data}. Train it again with\n"
                                             "  pyprogen train --config THIS_FILE --out NEW_DIR"):
            model.to(device)
            distributed.move_param_store(device)  # Pyro params outside the model's modules, too
            history = fit(model, x_train, labels=y_train, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr,
                          seed=seed, out=out, resume=resume, progress=progress, grad_clip=grad_clip,
                          checkpoint_every=checkpoint_every, logger=_tensorboard(out) if tensorboard else None,
                          kl_warmup=kl_warmup, free_bits=free_bits, lr_schedule=lr_schedule, precision=precision)
        set_seed(distributed.rank_seed(seed))  # each rank evaluates its shard of the test set; gathered
        scored = evaluation_rows(len(test.x), eval_points)
        result = distributed.reduce_evaluation(evaluate_model(
            model, distributed.shard_rows(test.x[scored]).to(device), num_particles=num_particles,
            modes=modes_for(data),
            labels=None if getattr(test, "y", None) is None else distributed.shard_rows(test.y[scored])))
        if not distributed.is_main_process():
            return result
        write_metrics(out, [*history, {"epoch": history[-1]["epoch"], "split": "test", **result}])
        plot_samples(_samples_for_figure(model, 64 if len(train.data_shape) == 3 else 2000), os.path.join(out, "samples.png"),
                     title=f"{model_name}: {sample_label(model)}", reference=None if len(train.data_shape) == 3 else test.x)
        plot_history(history, os.path.join(out, "loss.png"), title=f"{model_name} on {data}")
        return result


@contextlib.contextmanager
def _run_config(out, config, header):
    """Write ``out/config.toml`` for the run about to train (``config`` None: not this rank's job).

    If training fails before it writes a new checkpoint, the directory is put back as it was: the
    previous config.toml (or none), so a failed command leaves nothing behind and a run's
    config.toml always describes its checkpoint.
    """
    if config is None:
        yield
        return
    path, ckpt = os.path.join(out, CONFIG), checkpoint_path(out)
    before = open(path, "rb").read() if os.path.isfile(path) else None
    stamp = _stamp(ckpt)
    write_config(path, config, header=header)
    try:
        yield
    except BaseException:
        if _stamp(ckpt) == stamp:  # no new checkpoint: the new config.toml describes nothing on disk
            if before is None:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            else:
                write_bytes(path, before)
        raise


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _tensorboard(out):
    """A TensorBoard logger writing to ``out/tensorboard`` (rank 0 only; fit ignores it elsewhere)."""
    from ..train.tensorboard_logger import TensorBoardLogger

    return TensorBoardLogger(os.path.join(out, "tensorboard"))


def _plain(value):
    """What config.toml can hold (a custom estimator object or module is left out)."""
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (str, int, float, bool))


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
    folder = isinstance(data, str) and data not in DATASETS and os.path.isdir(data)
    test = load_data(data, "test", data_dir, model.config.get("image_size") if folder else None)
    x = as_training_tensor(model, test.x, "data")  # shape and value range checked against the model
    set_seed(0)
    return evaluate_model(model, x, num_particles=num_particles, modes=modes_for(data), labels=getattr(test, "y", None))


def sample_run(run_dir, n, path, seed=0, label=None):
    """``n`` samples to ``path``: a PNG grid/scatter/histogram or a ``.npy`` array. ``label``: draw from
    p(x | y = label) of a class-conditional model (cvae, m2); one line for any other model or a label out of range."""
    if not path.endswith((".png", ".npy")):
        raise PyprogenError(f"out: expected a .png or .npy file name, got {path!r}")
    model = load(run_dir)
    given = {}
    if label is not None:
        import inspect

        if "label" not in inspect.signature(model.sample).parameters:
            raise PyprogenError(f"label: model {model.config['name']!r} is not class-conditional "
                                "(--label is for cvae and m2)")
        classes = int(getattr(model, "num_classes", 0))
        if isinstance(label, bool) or not isinstance(label, int) or (classes and not 0 <= label < classes):
            raise PyprogenError(f"label: expected a class in 0..{classes - 1} for this {model.config['name']} model, "
                                f"got {label!r}")
        given = {"label": label}
    set_seed(seed)
    if path.endswith(".npy"):
        import io

        buf = io.BytesIO()
        np.save(buf, model.sample(n, **given).cpu().numpy(), allow_pickle=False)
        write_bytes(path, buf.getvalue())
    else:
        samples = model.sample(n, mean=True, **given).cpu() if given else _samples_for_figure(model, n)
        what = f"{n} samples" + (f" of class {label}" if given else "")
        plot_samples(samples, path, title=f"{model.config['name']}: {what}")
