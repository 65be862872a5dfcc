"""The target grammar: accepted and rejected strings, parameters, and the equal-weight mixture."""
import math

import pytest
import torch
from torch import distributions as D

from pyprogen.data.targets import EqualMixture, format_target, parse_target, target_mean_std
from pyprogen.errors import PyprogenError


@pytest.mark.parametrize("text, cls, params", [
    ("Normal(4, 1.25)", D.Normal, {"loc": 4.0, "scale": 1.25}),
    ("  Beta( 2,5 ) ", D.Beta, {"concentration1": 2.0, "concentration0": 5.0}),
    ("Gamma(2, 1)", D.Gamma, {"concentration": 2.0, "rate": 1.0}),
    ("Laplace(-1e-1, .5)", D.Laplace, {"loc": -0.1, "scale": 0.5}),
    ("StudentT(3)", D.StudentT, {"df": 3.0, "loc": 0.0, "scale": 1.0}),
    ("Uniform(-2, +3.5E0)", D.Uniform, {"low": -2.0, "high": 3.5}),
    ("Exponential(2)", D.Exponential, {"rate": 2.0}),
])
def test_accepted_strings_build_the_named_distribution(text, cls, params):
    dist = parse_target(text)
    assert type(dist) is cls
    for name, value in params.items():
        assert float(getattr(dist, name)) == pytest.approx(value, abs=1e-7)


def test_canonical_spelling():
    assert format_target(" Normal( 4,1.250 )") == "Normal(4, 1.25)"
    assert format_target("Mixture(Normal(-2,0.4),Beta(2,5))") == "Mixture(Normal(-2, 0.4), Beta(2, 5))"


@pytest.mark.parametrize("text, words", [
    ("Normal(4, -1)", "invalid Normal"),
    ("Normal(4)", "expects 2 numbers"),
    ("Normal(1, 2, 3)", "expects 2 numbers"),
    ("Foo(1)", "unknown distribution"),
    ("normal(0, 1)", "unknown distribution"),
    ("Normal(4, 1", "expected ',' or ')'"),
    ("Normal(4, 1))", "expected end of text"),
    ("__import__('os').system('true')", "unexpected character"),
    ("Normal(1, inf)", "unknown distribution 'inf'"),
    ("Normal(1e999, 1)", "must be finite"),
    ("Beta(0, 1)", "invalid Beta"),
    ("Uniform(2, 1)", "low < high"),
    ("Mixture()", "expected a number or a distribution"),
    ("Mixture(1, 2)", "Mixture expects"),
    ("Normal(Normal(0, 1), 1)", "expects numbers"),
    ("Mixture(Mixture(Mixture(Normal(0, 1))))", "nesting deeper"),
    ("", "empty"),
    ("Normal(4; 1)", "unexpected character"),
    ("Normal(0, 1)" + " " * 600, "at most 500 characters"),
])
def test_rejected_strings_name_the_problem(text, words):
    with pytest.raises(PyprogenError, match="target") as info:
        parse_target(text)
    assert words in str(info.value)


def test_non_string_is_rejected():
    with pytest.raises(PyprogenError, match="expected a string"):
        parse_target(4.0)


def test_mixture_of_families_density_moments_and_samples():
    mix = parse_target("Mixture(Normal(-2, 0.4), Beta(2, 5))")
    assert isinstance(mix, EqualMixture)
    n, b = D.Normal(-2.0, 0.4), D.Beta(2.0, 5.0)
    x = torch.tensor([-2.0, 0.3, 5.0])
    beta_lp = torch.tensor([-math.inf, float(b.log_prob(x[1])), -math.inf])
    expected = torch.logsumexp(torch.stack([n.log_prob(x), beta_lp]), 0) - math.log(2)
    assert torch.allclose(mix.log_prob(x), expected, atol=1e-5)
    mean, std = target_mean_std(mix)
    m2 = 0.5 * (0.4 ** 2 + 4) + 0.5 * (b.variance + b.mean ** 2)
    assert mean == pytest.approx(0.5 * (-2 + 2 / 7), abs=1e-6)
    assert std == pytest.approx(math.sqrt(m2 - mean ** 2), abs=1e-6)
    torch.manual_seed(0)
    s = mix.sample((200_000,))
    # the sample mean is within 5 standard errors of the analytic mean
    assert float(s.mean()) == pytest.approx(mean, abs=5 * std / math.sqrt(len(s)))
    assert float((s < -1).float().mean()) == pytest.approx(0.5, abs=0.005)
    with pytest.raises(NotImplementedError):  # torch's Beta has no CDF, so neither has the mixture
        mix.cdf(torch.tensor([0.0]))
    normals = parse_target("Mixture(Normal(-2, 0.4), Normal(3, 1))")
    assert torch.allclose(normals.cdf(torch.tensor([-10.0, -2.0, 10.0])),
                          torch.tensor([0.0, 0.25 + 0.5 * float(D.Normal(3.0, 1.0).cdf(torch.tensor(-2.0))), 1.0]),
                          atol=1e-6)


def test_target_mean_std_matches_closed_forms():
    assert target_mean_std(parse_target("Normal(4, 1.25)")) == pytest.approx((4.0, 1.25))
    assert target_mean_std(parse_target("Beta(2, 5)")) == pytest.approx((2 / 7, math.sqrt(10 / (49 * 8))))
    assert target_mean_std(parse_target("Gamma(2, 1)")) == pytest.approx((2.0, math.sqrt(2.0)))
    mean, std = target_mean_std(parse_target("Cauchy(0, 1)"))
    assert math.isnan(mean) and math.isnan(std)
