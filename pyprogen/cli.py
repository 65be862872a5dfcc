"""Command line: ``pyprogen train|evaluate|sample|compare|stability|diagnose|list`` (also ``python -m pyprogen``).

Only argument parsing and printing live here. Every :class:`~pyprogen.errors.PyprogenError`
becomes exit status 2 with one line on stderr; so does every argparse error.
"""
import argparse
import json
import sys

from .errors import PyprogenError


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message otherwise)
        raise PyprogenError(f"{self.prog}: {message}")


def number(kind, low, high=None, *, low_open=False, what=None):
    """An argparse type: ``kind`` (int or float) in [low, high] (``(low, ...`` with ``low_open``), finite.

    Upper bounds cap sizes that allocate memory or processes (found by fuzzing the flags). The
    parser carries ``kind`` and ``what`` so a config file's values are checked by the same rule.
    """
    left = "(" if low_open else "["
    right = f"{high}]" if high is not None else "inf)"
    what = what or f"{'an integer' if kind is int else 'a number'} in {left}{low}, {right}"

    def parse(text):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = (value > low if low_open else value >= low) and value < float("inf")
        if not ok or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.kind, parse.what = kind, what
    return parse


positive_int = number(int, 1, what="a positive integer")
seed_int = number(int, 0, 2**32 - 1, what="an integer in [0, 2**32)")  # NumPy/torch seed ranges
positive_float = number(float, 0, low_open=True, what="a positive finite number")
non_negative_float = number(float, 0, what="a finite number >= 0")


def ema_decay(text):
    """An argparse type: an EMA decay in [0, 1) (0 = off), finite."""
    value = number(float, 0, 1, what="an EMA decay in [0, 1) (0 = off)")(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected an EMA decay in [0, 1) (0 = off), got {text!r}")
    return value


ema_decay.kind, ema_decay.what = float, "an EMA decay in [0, 1) (0 = off)"


def int_in(low, high):
    return number(int, low, high)


def comma_list(text):
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return items


class Accumulate(argparse.Action):
    """Repeated list flags add up: ``--target A --target B`` is ``--target A B``, and for a comma
    list ``--models a,b --models c`` is ``--models a,b,c`` (argparse's plain ``store`` keeps the last)."""

    accumulates = True

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        items = [] if current is None or current is self.default else list(current)
        for value in values if isinstance(values, list) else [values]:
            items.extend(value if isinstance(value, list) else [value])
        setattr(namespace, self.dest, items)


def _names(registry):
    return ", ".join(sorted(registry))


def _help(text, default=None, choices=None):
    """One line of help: what it is, its choices, its default."""
    parts = [text]
    if choices is not None:
        parts.append(f"one of {', '.join(map(str, choices))}")
    if default is not None:
        parts.append(f"default: {default}")
    return "; ".join(parts)


def _registries():
    """The registries the help and ``pyprogen list`` read (imported here, at parser-build time)."""
    from .data import DATASETS
    from .data import cifar10, image_folder  # noqa: F401  (their loaders register themselves)
    from .infer import ADVERSARIAL_LOSSES, ESTIMATORS
    from .models import LIKELIHOODS, MODELS

    return {"models": MODELS, "estimators": ESTIMATORS, "adversarial losses": ADVERSARIAL_LOSSES,
            "data sets": DATASETS, "likelihoods": LIKELIHOODS}


def build_parser(explicit_only=False):
    """The ``pyprogen`` parser. ``explicit_only``: every default is ``argparse.SUPPRESS``, so parsing
    gives only the arguments written on the command line (what a config file must not override)."""
    reg = _registries()
    parser = Parser(prog="pyprogen", description="Deep generative models side by side in Pyro.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="command",
                                help="train, evaluate, sample, compare, stability, diagnose or list")

    def adder(p):
        def add(*names, default=None, shown=None, help, **kw):
            """``shown``: the default as the help states it (where ``default`` is None but means something)."""
            text = _help(help, shown if shown is not None else default, kw.get("choices"))
            if kw.get("action") == "store_true":
                default = False
            return p.add_argument(*names, default=argparse.SUPPRESS if explicit_only else default, help=text, **kw)

        return add

    data_help = (f"data set: a name ({_names(reg['data sets'])}), a 1-D target like 'Normal(4, 1.25)', "
                 "a .npy/.npz file, or a folder of PNG/JPEG images")
    data_dir_help = "directory holding full data sets (MNIST/Fashion-MNIST idx .gz, CIFAR-10 .bin, ...)"
    dirs_default = "$PYPROGEN_DATA, else the shipped copies"

    p = sub.add_parser("train", help="train one model",
                       description="Train one model; writes checkpoint.pt, metrics.json, config.toml and figures to --out.")
    add = adder(p)
    add("model", nargs="?", help=f"the model to train: one of {_names(reg['models'])} (required, here or in --config)")
    add("--config", metavar="FILE.toml",
        help="read the flags from a TOML file (keys: the flag names with dashes, e.g. latent-dim = 16; "
             "a run's own config.toml works); flags on the command line win", shown="none")
    add("--data", help=data_help + " (required, here or in --config)")
    add("--data-dir", metavar="DIR", help=data_dir_help, shown=dirs_default)
    add("--image-size", type=number(int, 32, 64, what="32 or 64"), choices=(32, 64),
        help="side of the square a folder of images (--data DIR) is resized and centre-cropped to", shown=32)
    add("--loss", help=f"estimator ({_names(reg['estimators'])}) or adversarial loss "
                       f"({_names(reg['adversarial losses'])})", shown="the model's own")
    add("--epochs", type=positive_int, help="passes over the training data",
        shown="10, or the model's recipe (GANs: per data set, models/gan_recipes.py)")
    add("--batch-size", type=positive_int, help="minibatch size (the global batch with --nproc)",
        shown="128, or the model's recipe on images (experiments/recipes.py; VAE family: 32)")
    add("--lr", type=positive_float, help="Adam learning rate (the peak with --lr-schedule)",
        shown="0.001, or the model's recipe")
    add("--recipe", choices=["default", "burda"],
        help="training recipe filling the flags not given (burda: Burda et al. 2016's 2x200-tanh VAE set-up)",
        shown="default")
    add("--kl-warmup", type=int_in(0, 10**9), metavar="STEPS",
        help="KL weight min(1, t / STEPS) at update t (Bowman et al. 2016); 0 = off", shown="the model's recipe")
    add("--free-bits", type=non_negative_float, metavar="LAMBDA",
        help="free bits: each latent dimension's KL counts for at least LAMBDA nats (Kingma et al. 2016); 0 = off",
        shown="the model's recipe")
    add("--lr-schedule", metavar="NAME",
        help="learning-rate schedule over the run: constant, cosine[:FINAL], step[:EVERY:GAMMA] or burda",
        shown="the model's recipe, else constant")
    add("--grad-clip", type=positive_float, help="clip the global gradient norm to this value", shown="no clipping")
    add("--precision", choices=("fp32", "bf16"), help="training precision: bf16 runs each step's forward pass under "
        "bfloat16 autocast (weights and optimiser stay fp32)", shown="the model's recipe, else fp32")
    add("--critic-lr", type=positive_float, help="GANs: the critic's Adam learning rate (two time-scales); "
        "factor-vae: its discriminator's", shown="--lr; factor-vae: 0.0001")
    add("--gamma", type=non_negative_float, help="GANs: R1/R2 penalty weight of gan-dp and r2; factor-vae: the "
        "weight of its total-correlation term", shown="the model's recipe, else from the data's scale "
        "(infer/gamma_rule.py); factor-vae: 10")
    add("--ema", type=ema_decay, metavar="DECAY",
        help="GANs: decay of the generator's weight average, which samples and evaluation use; 0 = off",
        shown="the model's recipe, else 0")
    add("--spectral-norm", action="store_true", help="GANs: spectral normalisation of the critic's weights",
        shown="off")
    add("--labels", type=int_in(1, 10**9), metavar="N",
        help="labelled models (cvae, m2): keep N labels of the training data, the same number per class; m2 "
             "treats the rest as unlabelled (semi-supervised), cvae needs them all", shown="every label")
    add("--latent-dim", type=int_in(1, 4096), help="size of the latent code z", shown="the model's own")
    add("--beta", type=non_negative_float, help="KL weight of beta-vae / beta-tcvae", shown="the model's own")
    add("--likelihood", choices=sorted(reg["likelihoods"]), help="observation model p(x | z)",
        shown="bernoulli for 0/1 data, else gaussian")
    add("--net", choices=["mlp", "conv"], help="encoder/decoder architecture", shown="the model's own")
    from .models.guides import GUIDES
    from .models.priors import PRIORS

    add("--guide", choices=sorted(GUIDES), help="VAE family: q(z|x), the encoder's Gaussian and a normalising flow "
        "(iaf: Kingma et al. 2016; planar, radial: Rezende & Mohamed 2015)", shown="diagonal")
    add("--flow-length", type=int_in(1, 1000), metavar="T", help="VAE family: flow steps of --guide iaf/planar/radial",
        shown=2)
    add("--prior", choices=sorted(PRIORS), help="VAE family: p(z) (vamp: VampPrior, Tomczak & Welling 2018; "
        "mog: a learnable mixture of Gaussians)", shown="normal")
    add("--prior-components", type=int_in(1, 100_000), metavar="K",
        help="VAE family: components of --prior vamp/mog", shown="500 for vamp, 10 for mog")
    add("--seed", type=seed_int, default=0, help="seed of every random number generator")
    add("--out", metavar="DIR", default="runs/latest", help="run directory")
    add("--resume", action="store_true",
        help="continue the run in --out from its last checkpoint; refused when the model, the data or a flag "
             "that shapes the run differs from its config.toml", shown="off")
    add("--device", choices=["cpu", "cuda"], default="cpu", help="where to train")
    add("--nproc", type=int_in(1, 1024), default=1,
        help="data-parallel processes on this machine (re-launches through torchrun)")
    add("--max-restarts", type=int_in(0, 1000), default=0,
        help="restart all processes up to this many times when one fails (torchrun --max-restarts); "
             "they resume from the last checkpoint")
    add("--checkpoint-every", type=positive_int, metavar="STEPS",
        help="also checkpoint every this many steps (bounds what a kill loses)", shown="each epoch")
    add("--tensorboard", action="store_true",
        help='log losses, learning rates, gradient norms and samples to OUT/tensorboard '
             '(pip install "pyprogen[tensorboard]")', shown="off")
    add("--num-particles", type=int_in(1, 100_000), default=1000,
        help="importance samples per test point for the final test NLL")
    add("--no-progress", action="store_true", help="no progress bar", shown="off")

    p = sub.add_parser("evaluate", help="evaluate a trained run directory")
    add = adder(p)
    add("dir", help="run directory written by pyprogen train")
    add("--data", help=data_help, shown="the run's own")
    add("--data-dir", metavar="DIR", help=data_dir_help, shown=dirs_default)
    add("--num-particles", type=int_in(1, 100_000), default=1000, help="importance samples per test point")
    add("--json", action="store_true", help="print JSON instead of a table", shown="off")

    p = sub.add_parser("sample", help="draw samples from a trained model")
    add = adder(p)
    add("dir", help="run directory written by pyprogen train")
    add("-n", type=int_in(1, 1_000_000), default=64, help="number of samples")
    add("--out", required=True, help="FILE.png (a grid) or FILE.npy (the array); required")
    add("--seed", type=seed_int, default=0, help="seed of the sampler")
    add("--label", type=number(int, -2**31, 2**31, what="an integer class label"), metavar="Y",
        help="class-conditional models (cvae, m2): draw from p(x | y = Y)", shown="y ~ p(y)")

    p = sub.add_parser("compare", help="train several models on one data set, one table")
    add = adder(p)
    add("--data", help=data_help, shown="binarized-mnist (shipped)")
    add("--data-dir", metavar="DIR", help=data_dir_help, shown=dirs_default)
    add("--preset", choices=["quick", "paper", "mnist", "dsprites"],
        help="budget and recipes: quick = minutes; paper = the long recipes (hours)", shown="quick")
    add("--seeds", type=int_in(1, 100), help="seeds per model; the table shows mean ± sd", shown=3)
    add("--publish", action="store_true",
        help="also write docs/results/compare.json and docs/figures/compare_*.png (run from the repository root)",
        shown="off")
    add("--models", type=comma_list, action=Accumulate, metavar="a,b,...",
        help=f"comma-separated models, repeatable (--models a,b --models c): {_names(reg['models'])}",
        shown="vae,beta-vae,beta-tcvae,wae-mmd,wae-gan,gan-dp,ns-gan,pixelcnn")
    add("--epochs", type=positive_int, help="epochs per model", shown="each family's recipe")
    add("--out", metavar="DIR", default="runs/compare", help="where compare.json and the figures go")
    add("--seed", type=seed_int, default=0, help="seed of every random number generator")
    add("--no-progress", action="store_true", help="no progress bars", shown="off")

    p = sub.add_parser("stability", help="the 1-D GAN stability study")
    add = adder(p)
    add("--target", nargs="+", action=Accumulate, metavar="T",
        help="1-D targets like 'Normal(4, 1.25)' or 'Mixture(T1, T2)', repeatable (--target A --target B)",
        shown="'Normal(4, 1.25)' 'Beta(2, 5)'")
    add("--methods", type=comma_list, action=Accumulate, metavar="a,b,...",
        help=f"comma-separated adversarial losses, repeatable: {_names(reg['adversarial losses'])}",
        shown="gan,wgan-gp,gan-dp")
    add("--lr", type=positive_float, nargs="+", action=Accumulate, metavar="LR",
        help="learning rates to sweep, repeatable (--lr 1e-4 --lr 1e-3)", shown="1e-05 0.0001 0.001")
    add("--seeds", type=positive_int, help="seeds per cell", shown=5)
    add("--epochs", type=positive_int, help="epochs of 100 generator updates", shown=30)
    add("--out", metavar="DIR", default="runs/stability", help="where stability.json and the figures go")
    add("--quick", action="store_true", help="a seconds-long smoke run", shown="off")
    add("--no-progress", action="store_true", help="no progress bar", shown="off")

    p = sub.add_parser("diagnose", help="ArviZ diagnostics of a trained VAE-family model")
    add = adder(p)
    add("dir", help="run directory written by pyprogen train")
    add("--data", help=data_help, shown="the run's own")
    add("--points", type=int_in(1, 100_000), default=100, help="test points to diagnose")
    add("--out", metavar="DIR", help="where the .nc file and the table go", shown="the run directory")
    add("--no-progress", action="store_true", help="no progress bars", shown="off")

    sub.add_parser("list", help="list the registered models, estimators, adversarial losses, data sets, likelihoods",
                   description="Every registry entry, one line each: name and description.")
    return parser


# -- commands --------------------------------------------------------------------------------
def train_arguments(args):
    """``train``'s arguments with ``--config FILE.toml`` merged in: command line > file > defaults.

    The file is checked key by key by the flags' own parsers before anything runs (one line naming
    the key on an unknown key, a wrong type or an out-of-range value).
    """
    from .config import check_config, read_toml
    from .experiments.runs import FINGERPRINT_KEYS
    from .models import MODELS

    values = vars(args).copy()
    if args.config is not None:
        train_parser = _subparser(build_parser(), "train")
        table = check_config(read_toml(args.config), train_parser, args.config, extra=FINGERPRINT_KEYS)
        table = {k: v for k, v in table.items() if k not in FINGERPRINT_KEYS}  # recorded facts, checked on --resume
        explicit = vars(build_parser(explicit_only=True).parse_args(args.argv))
        values.update(table)
        values.update({k: v for k, v in explicit.items() if k != "config"})
    for dest, flag in (("model", "model"), ("data", "--data")):
        if values.get(dest) is None:
            raise PyprogenError(f"pyprogen train: the following arguments are required: {flag} "
                                f"(or {flag.lstrip('-')} = ... in --config FILE.toml)")
    MODELS.lookup(values["model"])  # before any directory is made
    return argparse.Namespace(**values)


def run_flags(args):
    """``{flag name: value}`` of every ``train`` flag, for the run's config.toml (not --out/--resume/--config)."""
    from .config import config_actions

    actions = config_actions(_subparser(build_parser(), "train"), skip=("help", "config", "out", "resume"))
    return {key: getattr(args, action.dest) for key, action in actions.items()}


def _subparser(parser, name):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def cmd_train(args):
    from .experiments.runs import resolve_device, train_run
    from .train.distributed import is_main_process
    from .train.launch import relaunch, under_torchrun

    args = train_arguments(args)
    if (args.nproc > 1 or args.max_restarts) and not under_torchrun():
        resolve_device(args.device)  # fail here, not in every worker
        if args.batch_size is not None and args.batch_size % args.nproc:
            raise PyprogenError(f"batch-size: expected a multiple of --nproc {args.nproc} (the global batch "
                                f"is split evenly), got {args.batch_size}")
        return relaunch(args.nproc, args.argv, max_restarts=args.max_restarts)
    result = train_run(args.model, args.data, data_dir=args.data_dir, loss=args.loss, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, latent_dim=args.latent_dim, beta=args.beta,
                       likelihood=args.likelihood, net=args.net, seed=args.seed, out=args.out,
                       resume=args.resume, device=args.device, num_particles=args.num_particles,
                       progress=not args.no_progress, grad_clip=args.grad_clip, image_size=args.image_size,
                       checkpoint_every=args.checkpoint_every, tensorboard=args.tensorboard,
                       kl_warmup=args.kl_warmup, free_bits=args.free_bits, lr_schedule=args.lr_schedule,
                       recipe=args.recipe, guide=args.guide, flow_length=args.flow_length, prior=args.prior,
                       prior_components=args.prior_components, critic_lr=args.critic_lr, gamma=args.gamma,
                       ema=args.ema, labels=args.labels, precision=args.precision,
                       spectral_norm=args.spectral_norm or None, flags=run_flags(args))
    if not is_main_process():
        return None
    print(format_result(result))
    print(f"wrote {args.out}/checkpoint.pt, metrics.json, config.toml, samples.png, loss.png")


def cmd_list(args):
    for title, registry in _registries().items():
        print(f"{title}:")
        width = max(map(len, registry), default=0)
        for name in sorted(registry):
            print(f"  {name:<{width}}  {registry.describe(name)}".rstrip())


def cmd_evaluate(args):
    from .experiments.runs import evaluate_run

    result = evaluate_run(args.dir, data=args.data, data_dir=args.data_dir, num_particles=args.num_particles)
    print(json.dumps(result, indent=2) if args.json else format_result(result))


def cmd_sample(args):
    from .experiments.runs import sample_run

    sample_run(args.dir, args.n, args.out, seed=args.seed, label=args.label)
    print(f"wrote {args.out}")


def cmd_compare(args):
    from .experiments.compare import compare_table, run_compare

    result = run_compare(data=args.data, data_dir=args.data_dir, models=args.models, epochs=args.epochs,
                         out=args.out, seed=args.seed, progress=not args.no_progress, seeds=args.seeds,
                         preset=args.preset, publish_to="." if args.publish else None)
    print(compare_table(result))
    print(f"wrote {args.out}/compare.json and figures" + (" (and docs/results, docs/figures)" if args.publish else ""))


def cmd_stability(args):
    from .experiments.stability import run_study, stability_table

    result = run_study(targets=args.target, methods=args.methods, lrs=args.lr, seeds=args.seeds,
                       epochs=args.epochs, out=args.out, quick=args.quick, progress=not args.no_progress)
    print(stability_table(result))
    print(f"wrote {args.out}/stability.json, stability.md and figures")


def cmd_diagnose(args):
    from .diagnostics.check import format_check
    from .experiments.diagnose import diagnose_dir

    result = diagnose_dir(args.dir, data=args.data, points=args.points, out=args.out,
                          progress=not args.no_progress)
    print(format_check(result))


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "sample": cmd_sample, "compare": cmd_compare,
            "stability": cmd_stability, "diagnose": cmd_diagnose, "list": cmd_list}


def format_result(result):
    rows = [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in result.items()]
    return "\n".join(["| metric | value |", "|---|---|", *rows])


def main(argv=None):
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        args.argv = argv  # for `train --nproc N` to re-launch, and `--config` to tell given flags from defaults
        status = COMMANDS[args.command](args)
    except PyprogenError as exc:  # first line only: Pyro appends trace shapes to errors raised in a model
        print(f"pyprogen: error: {(str(exc).splitlines() or [''])[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyprogen: interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
