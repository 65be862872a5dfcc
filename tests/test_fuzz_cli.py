"""Fuzzing every CLI flag with hypothesis: ``pyprogen.cli.main([...])`` returns 0, or 2 with exactly one
line on stderr and no traceback, whatever the value.

Every flag of every subcommand is found by walking the argparse parser (flags added later are fuzzed
too) and fed hypothesis values with the commands stubbed out (parsing only). The flags whose values
reach the package (names, paths, targets) are fuzzed end to end on a tiny data set (1 step; marked
slow); the default suite replays the cases that fuzzing found, and every run-directory argument.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from pyprogen import cli
from pyprogen.models import MODELS

PARSE = settings(max_examples=30, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RUN = settings(max_examples=25, deadline=None, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

VALUES = st.one_of(
    st.text(max_size=24),
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.floats().map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "0", "1", "0x10", "1_000", "", " ", "٣", "--", "-1",
                     "Normal(4, 1.25)", "gan,wgan-gp", "a,,b", ",", "x.png", "x.npy", "/dev/null"]),
)
PLACEHOLDER = {"model": "vae", "dir": "nowhere", "--data": "ring8", "--out": "x.png"}


def flags():
    """(subcommand, option string or positional name, action) for every argument of every subcommand."""
    sub = next(a for a in cli.build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    out = []
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.dest == "help":
                continue
            out.append((name, action.option_strings[0] if action.option_strings else action.dest, action))
    return out


FLAGS = flags()


SUBPARSERS = next(a for a in cli.build_parser()._actions if a.__class__.__name__ == "_SubParsersAction").choices


def required_argv(cmd, skip):
    parser = SUBPARSERS[cmd]
    argv = [cmd]
    for action in parser._actions:
        name = action.option_strings[0] if action.option_strings else action.dest
        if name == skip or action.dest == "help":
            continue
        if not action.option_strings:
            argv.append(PLACEHOLDER[name])
        elif action.required:
            argv += [name, PLACEHOLDER[name]]
    return argv


def event(text):
    try:
        hypothesis_event(text)
    except Exception:  # outside a hypothesis test (plain parametrised cases)
        pass


def run_main(argv, capsys):
    capsys.readouterr()
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 0:
        event("exit 0")
    else:
        assert code == 2, (argv, code, err)
        assert err.count("\n") == 1 and err.startswith("pyprogen: error: "), (argv, err)
        event("exit 2")
    return code


@pytest.mark.parametrize("cmd, flag, action", FLAGS, ids=[f"{c} {f}" for c, f, _ in FLAGS])
@PARSE
@given(value=VALUES)
def test_every_flag_parses_or_exits_2(cmd, flag, action, value, capsys, monkeypatch):
    seen = {}
    monkeypatch.setitem(cli.COMMANDS, cmd, lambda args: seen.update(vars(args)))
    argv = required_argv(cmd, flag)
    if action.option_strings:
        argv += [flag] if action.nargs == 0 else [flag, value]
    else:
        argv.insert(1, value)
    if run_main(argv, capsys) == 0:
        got = seen[action.dest]
        items = got if action.nargs in ("+", "*") else [got]
        if action.choices is not None:
            assert all(v in action.choices for v in items)
        if action.type is cli.comma_list:  # non-empty, stripped names
            assert got and all(isinstance(t, str) and t and t == t.strip() for t in got)
        elif action.type is not None:  # a parsed value is what the type accepts
            assert all(action.type(str(v)) == v for v in items)


def test_typed_flags_refuse_the_classic_mistakes(capsys, monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "train", lambda args: None)
    for flag, bad in [("--epochs", "0"), ("--epochs", "1.5"), ("--lr", "nan"), ("--lr", "-1e-3"), ("--lr", "inf"),
                      ("--seed", str(2**64)), ("--latent-dim", str(10**11)), ("--beta", "-1"), ("--grad-clip", "0"),
                      ("--likelihood", "poisson"), ("--device", "tpu"), ("--num-particles", "0")]:
        assert run_main(["train", "vae", "--data", "ring8", flag, bad], capsys) == 2, flag


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    path = root / "tiny.npy"
    np.save(path, np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32))
    return root


def safe_path(root, text):
    """A fuzzed path kept inside ``root`` (no absolute paths, no '..'; NUL bytes stay)."""
    parts = [p for p in text.split("/") if p not in ("", ".", "..")]
    return str(root.joinpath("out", *parts)) if parts else str(root / "out" / "default")


TRAIN = ["--epochs", "1", "--batch-size", "100000", "--latent-dim", "1", "--num-particles", "1", "--no-progress"]


@pytest.mark.slow
@RUN
@given(model=st.one_of(st.sampled_from(sorted(MODELS)), st.text(max_size=10)))
def test_train_model_name_end_to_end(tiny, model, capsys):
    run_main(["train", model, "--data", str(tiny / "tiny.npy"), "--out", str(tiny / "m"), *TRAIN], capsys)


@pytest.mark.slow
@RUN
@given(data=st.one_of(st.sampled_from(["ring8", "Normal(4, 1.25)", "Exponential(1e-46)", "tiny.npy", "nope.npy",
                                       "tiny.npz", "Mixture(", "/etc/passwd", "/dev/zero.npy"]), st.text(max_size=16)))
@example(data="a\x00b.npy")
def test_train_data_end_to_end(tiny, data, capsys):
    data = str(tiny / data) if data.startswith("tiny") else data
    run_main(["train", "vae", "--data", data, "--out", str(tiny / "d"), *TRAIN], capsys)


@pytest.mark.slow
@RUN
@given(loss=st.one_of(st.sampled_from(["elbo", "iwae", "gan", "wgan-gp", "mmd"]), st.text(max_size=10)),
       data_dir=st.one_of(st.none(), st.text(max_size=10)))
def test_train_loss_and_data_dir_end_to_end(tiny, loss, data_dir, capsys):
    extra = [] if data_dir is None else ["--data-dir", data_dir]
    run_main(["train", "vae", "--data", str(tiny / "tiny.npy"), "--loss", loss, "--out", str(tiny / "l"), *TRAIN,
              *extra], capsys)


@pytest.mark.slow
@RUN
@given(out=st.text(max_size=20))
@example(out="a\x00b")
def test_train_out_end_to_end(tiny, out, capsys):
    run_main(["train", "vae", "--data", str(tiny / "tiny.npy"), "--out", safe_path(tiny, out), *TRAIN], capsys)


@pytest.fixture(scope="module")
def run_dir(tiny):
    from pyprogen.cli import main

    assert main(["train", "vae", "--data", str(tiny / "tiny.npy"), "--out", str(tiny / "run"), *TRAIN]) == 0
    return tiny / "run"


@settings(PARSE, max_examples=15)
@given(cmd=st.sampled_from(["evaluate", "sample", "diagnose"]), where=st.text(max_size=20))
@example(cmd="sample", where="a\x00b")
def test_run_dir_argument_end_to_end(tiny, cmd, where, capsys):
    argv = [cmd, where] + (["--out", str(tiny / "s.npy")] if cmd == "sample" else [])
    assert run_main(argv, capsys) == 2  # never a trained run directory


@pytest.mark.slow
@RUN
@given(out=st.one_of(st.text(max_size=20), st.text(max_size=12).map(lambda t: t + ".png"),
                     st.text(max_size=12).map(lambda t: t + ".npy")), n=st.integers(min_value=-3, max_value=2000))
@example(out="x.png", n=5)
@example(out="x.npy", n=1)
def test_sample_out_and_n_end_to_end(run_dir, tiny, out, n, capsys):
    assert run_main(["sample", str(run_dir), "-n", str(n), "--out", safe_path(tiny, out)], capsys) in (0, 2)


@pytest.mark.parametrize("name", ["/proc/no/such/dir/x.npy", "nul\x00byte.npy", "a-dir.png"])
def test_sample_to_an_unwritable_path_exits_2(run_dir, tmp_path, name, capsys):
    """Found by fuzzing: io.write_bytes let OSError/ValueError escape (now one line, exit 2)."""
    (tmp_path / "a-dir.png").mkdir()
    path = name if name.startswith("/") else str(tmp_path / name)
    assert run_main(["sample", str(run_dir), "-n", "4", "--out", path], capsys) == 2
    assert (tmp_path / "a-dir.png").is_dir()


def test_evaluate_on_data_of_another_shape_is_one_line(run_dir, capsys):
    """Found by fuzzing: Pyro appends trace shapes to an error raised inside a model (several lines)."""
    assert run_main(["evaluate", str(run_dir), "--data", "binarized-mnist", "--num-particles", "2"], capsys) == 2


@pytest.mark.slow
@RUN
@given(data=st.one_of(st.sampled_from(["ring8", "grid25", "mnist", "Normal(0, 1)", "tiny.npy"]), st.text(max_size=12)))
def test_evaluate_data_end_to_end(run_dir, tiny, data, capsys):
    data = str(tiny / data) if data.startswith("tiny") else data
    run_main(["evaluate", str(run_dir), "--data", data, "--num-particles", "2", "--json"], capsys)


@pytest.mark.parametrize("argv", [
    ["train", "vae", "--data", "ring8", "--loss", "gan"],  # found by fuzzing: AttributeError (no critic)
    ["train", "vae", "--data", "Exponential(1e-46)"],  # found: inf samples reached training
    ["train", "vae", "--data", "Normal(1e39, 1)"],  # found: float32 overflow of a finite parameter
    ["train", "vae", "--data", "a\x00b.npy"],
    ["train", "vae", "--data", "/etc/passwd"],
    ["train", "nonsense", "--data", "ring8"],
    ["train", "pixelcnn", "--data", "ring8", "--epochs", "1"],
    ["stability", "--target", "Normal(4, 1.25", "--quick"],
    ["stability", "--target", "__import__('os').system('true')", "--quick"],
    ["stability", "--target", "Normal(0, -1)", "--quick"],
    ["stability", "--methods", "nonsense", "--quick"],
    ["compare", "--models", "vae,nonsense", "--epochs", "1"],
    ["compare", "--data", "nope.npy", "--epochs", "1"],
    ["diagnose", "nowhere"],
])
def test_bad_values_exit_2_before_any_work(argv, capsys, tmp_path):
    assert run_main([*argv, "--out", str(tmp_path / "o")], capsys) == 2


@pytest.mark.parametrize("out", ["a-file", "nul\x00byte", "/proc/no/such/dir"])
def test_unusable_out_directory_exits_2(out, capsys, tmp_path):
    """Found by fuzzing: an --out that is a file or holds a NUL byte raised FileExistsError/ValueError."""
    (tmp_path / "a-file").write_text("x")
    path = out if out.startswith("/") else str(tmp_path / out)
    assert run_main(["train", "vae", "--data", "ring8", "--out", path], capsys) == 2
    assert (tmp_path / "a-file").read_text() == "x"


# -- config files (train --config): any table exits 0 or 2 with one line ------------------------------
TRAIN_KEYS = sorted(__import__("pyprogen.config", fromlist=["config_actions"]).config_actions(SUBPARSERS["train"]))
TOML_VALUES = st.one_of(st.integers(-2**40, 2**40), st.floats(allow_nan=True), st.booleans(), st.text(max_size=12),
                        st.lists(st.integers(-3, 3), max_size=2), st.sampled_from(["vae", "ring8", "gaussian", "conv"]))


@PARSE
@given(table=st.dictionaries(st.one_of(st.sampled_from(TRAIN_KEYS), st.text(min_size=1, max_size=8)), TOML_VALUES,
                             max_size=6))
def test_any_config_table_runs_or_exits_2(table, tmp_path_factory, capsys, monkeypatch):
    from pyprogen.config import dumps
    from pyprogen.experiments import runs
    from pyprogen.train import launch

    calls = []
    monkeypatch.setattr(runs, "train_run", lambda model, data, **kw: calls.append((model, data, kw)) or {})
    monkeypatch.setattr(launch, "relaunch", lambda nproc, argv: calls.append(("relaunch", nproc)))
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text(dumps({"model": "vae", "data": "ring8", **table}))
    code = run_main(["train", "--config", str(path), "--out", str(path.parent / "o")], capsys)
    assert (code == 0) == bool(calls)
    assert not (path.parent / "o").exists()  # the command itself never ran
