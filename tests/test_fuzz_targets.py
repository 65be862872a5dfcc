"""Fuzzing the 1-D target grammar (``pyprogen.data.targets.parse_target``) with hypothesis.

Property: any input either parses into a ``torch.distributions.Distribution`` or raises
``PyprogenError`` with a one-line message; nothing else escapes, nothing is evaluated. Where a
target parses, ``load_dataset(target)`` gives finite data or a ``PyprogenError``.
"""
import math

import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from pyprogen.data import load_dataset
from pyprogen.data.targets import MAX_LENGTH, TARGETS, parse_target
from pyprogen.errors import PyprogenError

FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLING = settings(FUZZ, max_examples=200)  # these also draw 2,000 samples per parsed target
NAMES = sorted(TARGETS) + ["Mixture"]


def outcome(text):
    """'ok' or the one-line PyprogenError message; any other exception fails the test."""
    try:
        d = parse_target(text)
    except PyprogenError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and msg.startswith("target"), msg
        event("refused")
        return msg
    assert isinstance(d, torch.distributions.Distribution)
    event("parsed")
    return "ok"


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),  # nan, inf, 1e308, -0.0, 5e-324, ...
    st.floats(min_value=-10, max_value=10).map(lambda v: f"{v:g}"),
    st.integers(min_value=-10**40, max_value=10**40).map(str),
    st.sampled_from(["1e39", "-1e39", "1e-46", "3.4e38", "NaN", "inf", "-inf", "1e", ".", "+-1", "0x10", "1_000"]),
)
names = st.one_of(st.sampled_from(NAMES), st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1,
                                                  max_size=12))


def call(children):
    return st.tuples(names, st.lists(children, max_size=5), st.sampled_from(["", " ", "  "])).map(
        lambda t: f"{t[0]}({(',' + t[2]).join(t[1])})")


grammar = st.recursive(numbers, call, max_leaves=30)


def _arity(name):
    params = TARGETS[name][1]
    return sum(isinstance(p, str) for p in params), len(params)


positive = st.floats(min_value=0.05, max_value=20).map(lambda v: f"{v:.3g}")
moderate = st.one_of(positive, positive, positive, numbers)  # mostly valid, sometimes extreme
leaf = st.sampled_from(sorted(TARGETS)).flatmap(
    lambda n: st.lists(moderate, min_size=_arity(n)[0], max_size=_arity(n)[1]).map(lambda a: f"{n}({', '.join(a)})"))
well_formed = st.recursive(leaf, lambda c: st.lists(c, min_size=1, max_size=4).map(
    lambda xs: f"Mixture({', '.join(xs)})"), max_leaves=8)


@FUZZ
@given(st.text(max_size=MAX_LENGTH + 100))
@example("__import__('os').system('touch /tmp/pwned')")
@example("Normal(4, 1.25); import os")
@example("")
@example("Mixture()")
@example("Normal(4, 1.25")
def test_arbitrary_strings(text):
    outcome(text)


@SAMPLING
@given(grammar)
@example("Mixture(Normal(-2, 0.4), Beta(2, 5))")
@example("Normal(1e39, 1)")
@example("Normal(0, 1e39)")
@example("Exponential(1e-46)")
@example("Mixture(Mixture(Mixture(Normal(0, 1))))")
@example("Pareto(1e-40, 1e-40)")
def test_grammar_like_strings_with_extreme_numbers(text):
    parses_then_samples_finite_or_refuses(text)


@SAMPLING
@given(well_formed)
@example("Exponential(1e-45)")  # valid float32 rate, samples overflow to inf
@example("LogNormal(100, 1)")
def test_well_formed_targets_sample_finite_or_refuse(text):
    parses_then_samples_finite_or_refuses(text)


def parses_then_samples_finite_or_refuses(text):
    """Found by fuzzing: finite float64 parameters could overflow float32 (Normal(1e39, 1)) or give inf
    samples (Exponential(1e-45)); both now raise PyprogenError instead of feeding inf to training."""
    if outcome(text) == "ok":
        try:
            data = load_dataset(text, "valid")
        except PyprogenError as exc:
            assert "\n" not in str(exc) and "NaN/inf samples" in str(exc)
            return
        assert data.x.shape == (2000, 1) and torch.isfinite(data.x).all()


@FUZZ
@given(st.integers(min_value=0, max_value=20_000), st.sampled_from(["Mixture(", "(", ",", "Normal(0, 1), ", "1"]))
def test_very_long_and_deeply_nested_input(n, piece):
    text = "Mixture(" + piece * n + "Normal(0, 1)" + ")" * (n if piece.endswith("(") else 1)
    msg = outcome(text)
    if len(text) > MAX_LENGTH:
        assert msg.startswith(f"target: expected at most {MAX_LENGTH} characters")


@pytest.mark.parametrize("text, expected", [
    ("Normal(4, 1.25)", (4.0, 1.25)),
    ("Normal( 4,1.250 )", (4.0, 1.25)),
    ("Mixture(Normal(-2, 1), Normal(2, 1))", (0.0, math.sqrt(5.0))),  # 1 + 2² by the law of total variance
])
def test_valid_targets_have_the_stated_moments(text, expected):
    d = parse_target(text)
    assert float(d.mean) == pytest.approx(expected[0], abs=1e-6)
    assert math.sqrt(float(d.variance)) == pytest.approx(expected[1], rel=1e-6)


def test_found_by_fuzzing_float32_overflow_is_refused():
    with pytest.raises(PyprogenError, match=r"loc must be finite \(within float32"):
        parse_target("Normal(1e39, 1)")
    assert float(parse_target("Normal(3e38, 1)").loc) == pytest.approx(3e38, rel=1e-6)  # still representable
    with pytest.raises(PyprogenError, match="draws NaN/inf samples in float32"):
        load_dataset("Exponential(1e-45)")
