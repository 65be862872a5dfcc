"""Command line: ``pyprogen train|evaluate|sample|compare|stability|diagnose`` (also ``python -m pyprogen``).

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

    Upper bounds cap sizes that allocate memory or processes (found by fuzzing the flags).
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

    return parse


positive_int = number(int, 1, what="a positive integer")
seed_int = number(int, 0, 2**32 - 1, what="an integer in [0, 2**32)")  # NumPy/torch seed ranges
positive_float = number(float, 0, low_open=True, what="a positive finite number")
non_negative_float = number(float, 0, what="a finite number >= 0")


def int_in(low, high):
    return number(int, low, high)


def comma_list(text):
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return items


def build_parser():
    parser = Parser(prog="pyprogen", description="Deep generative models side by side in Pyro.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("train", help="train one model")
    p.add_argument("model")
    p.add_argument("--data", required=True)
    p.add_argument("--data-dir", default=None, help="directory holding full data sets (or $PYPROGEN_DATA)")
    p.add_argument("--loss", default=None)
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--grad-clip", type=positive_float, default=None, help="clip the global gradient norm")
    p.add_argument("--latent-dim", type=int_in(1, 4096), default=None)
    p.add_argument("--beta", type=non_negative_float, default=None)
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian", "categorical"], default=None)
    p.add_argument("--net", choices=["mlp", "conv"], default=None)
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--out", default="runs/latest")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--nproc", type=int_in(1, 1024), default=1,
                   help="data-parallel processes on this machine (re-launches through torchrun)")
    p.add_argument("--num-particles", type=int_in(1, 100_000), default=1000, help="for the final test NLL")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("evaluate", help="evaluate a trained run directory")
    p.add_argument("dir")
    p.add_argument("--data", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--num-particles", type=int_in(1, 100_000), default=1000)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("sample", help="draw samples from a trained model")
    p.add_argument("dir")
    p.add_argument("-n", type=int_in(1, 1_000_000), default=64)
    p.add_argument("--out", required=True, help="FILE.png (a grid) or FILE.npy")
    p.add_argument("--seed", type=seed_int, default=0)

    p = sub.add_parser("compare", help="train several models on one data set, one table")
    p.add_argument("--data", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--models", type=comma_list, default=None)
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("stability", help="the 1-D GAN stability study")
    p.add_argument("--target", nargs="+", default=None)
    p.add_argument("--methods", type=comma_list, default=None)
    p.add_argument("--lr", type=positive_float, nargs="+", default=None)
    p.add_argument("--seeds", type=positive_int, default=None)
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--out", default="runs/stability")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("diagnose", help="ArviZ diagnostics of a trained VAE-family model")
    p.add_argument("dir")
    p.add_argument("--data", default=None)
    p.add_argument("--points", type=int_in(1, 100_000), default=100)
    p.add_argument("--out", default=None)
    p.add_argument("--no-progress", action="store_true")
    return parser


# -- commands --------------------------------------------------------------------------------
def cmd_train(args):
    from .experiments.runs import resolve_device, train_run
    from .train.distributed import is_main_process
    from .train.launch import relaunch, under_torchrun

    if args.nproc > 1 and not under_torchrun():
        resolve_device(args.device)  # fail here, not in every worker
        if args.batch_size % args.nproc:
            raise PyprogenError(f"batch-size: expected a multiple of --nproc {args.nproc} (the global batch "
                                f"is split evenly), got {args.batch_size}")
        return relaunch(args.nproc, args.argv)
    result = train_run(args.model, args.data, data_dir=args.data_dir, loss=args.loss, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, latent_dim=args.latent_dim, beta=args.beta,
                       likelihood=args.likelihood, net=args.net, seed=args.seed, out=args.out,
                       resume=args.resume, device=args.device, num_particles=args.num_particles,
                       progress=not args.no_progress, grad_clip=args.grad_clip)
    if not is_main_process():
        return None
    print(format_result(result))
    print(f"wrote {args.out}/checkpoint.pt, metrics.json, samples.png, loss.png")


def cmd_evaluate(args):
    from .experiments.runs import evaluate_run

    result = evaluate_run(args.dir, data=args.data, data_dir=args.data_dir, num_particles=args.num_particles)
    print(json.dumps(result, indent=2) if args.json else format_result(result))


def cmd_sample(args):
    from .experiments.runs import sample_run

    sample_run(args.dir, args.n, args.out, seed=args.seed)
    print(f"wrote {args.out}")


def cmd_compare(args):
    from .experiments.compare import compare_table, run_compare

    result = run_compare(data=args.data, data_dir=args.data_dir, models=args.models, epochs=args.epochs,
                         out=args.out, seed=args.seed, progress=not args.no_progress)
    print(compare_table(result))
    print(f"wrote {args.out}/compare.json and figures")


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
            "stability": cmd_stability, "diagnose": cmd_diagnose}


def format_result(result):
    rows = [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in result.items()]
    return "\n".join(["| metric | value |", "|---|---|", *rows])


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # for `train --nproc N` to re-launch
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
