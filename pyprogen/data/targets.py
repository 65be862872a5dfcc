"""The 1-D target grammar of the stability study: ``Name(number, ...)`` and ``Mixture(T1, T2, ...)``.

    target  := NAME "(" args ")"
    args    := arg ("," arg)*
    arg     := NUMBER | target          (targets only inside Mixture)

``NAME`` is a univariate ``torch.distributions`` class from :data:`TARGETS` (an explicit
allow-list) with its parameters in constructor order, or ``Mixture`` (an equal-weight mixture,
:class:`EqualMixture`, which unlike ``MixtureSameFamily`` mixes families). The text is read by
a tokenizer and a recursive-descent parser — never evaluated. Parameters are checked by the
distribution's own ``validate_args`` (positive scales, concentrations, ...) plus finiteness.
"""
import math
import re

import torch
from torch.distributions import Distribution, constraints
from torch import distributions as D

from ..errors import PyprogenError

#: name -> (class, parameter names; names with a default are optional, given as (name, default))
TARGETS = {
    "Normal": (D.Normal, ("loc", "scale")),
    "Laplace": (D.Laplace, ("loc", "scale")),
    "Cauchy": (D.Cauchy, ("loc", "scale")),
    "Gumbel": (D.Gumbel, ("loc", "scale")),
    "LogNormal": (D.LogNormal, ("loc", "scale")),
    "StudentT": (D.StudentT, ("df", ("loc", 0.0), ("scale", 1.0))),
    "Beta": (D.Beta, ("concentration1", "concentration0")),
    "Kumaraswamy": (D.Kumaraswamy, ("concentration1", "concentration0")),
    "Gamma": (D.Gamma, ("concentration", "rate")),
    "InverseGamma": (D.InverseGamma, ("concentration", "rate")),
    "Chi2": (D.Chi2, ("df",)),
    "Exponential": (D.Exponential, ("rate",)),
    "HalfNormal": (D.HalfNormal, ("scale",)),
    "HalfCauchy": (D.HalfCauchy, ("scale",)),
    "Weibull": (D.Weibull, ("scale", "concentration")),
    "Pareto": (D.Pareto, ("scale", "alpha")),
    "Uniform": (D.Uniform, ("low", "high")),
}
MAX_LENGTH = 500
MAX_DEPTH = 3
MAX_COMPONENTS = 16

_TOKEN = re.compile(r"\s*(?:(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<punct>[(),]))")


class EqualMixture(Distribution):
    """Equal-weight mixture of univariate distributions of any families: p(x) = 1/K Σ_k p_k(x)."""

    arg_constraints = {}
    support = constraints.real
    has_rsample = False

    def __init__(self, components, validate_args=None):
        self.components = list(components)
        super().__init__(torch.Size(), torch.Size(), validate_args=False)

    def sample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape)
        with torch.no_grad():
            draws = torch.stack([c.sample(shape) for c in self.components])  # (K, *shape)
            which = torch.randint(len(self.components), (1, *shape))
            return draws.gather(0, which).squeeze(0)

    def log_prob(self, value):
        parts = torch.stack([log_density(c, value) for c in self.components])
        return torch.logsumexp(parts, 0) - math.log(len(self.components))

    def cdf(self, value):
        return torch.stack([_cdf(c, value) for c in self.components]).mean(0)

    @property
    def mean(self):
        return torch.stack([c.mean for c in self.components]).mean(0)

    @property
    def variance(self):
        means = torch.stack([c.mean for c in self.components])
        second = torch.stack([c.variance + c.mean ** 2 for c in self.components]).mean(0)
        return second - means.mean(0) ** 2

    def __repr__(self):
        return "Mixture(" + ", ".join(repr(c) for c in self.components) + ")"


def log_density(dist, value):
    """``dist.log_prob`` extended to all reals: -inf outside the support (no validation error)."""
    value = torch.as_tensor(value, dtype=torch.get_default_dtype())
    if isinstance(dist, EqualMixture):
        return dist.log_prob(value)
    inside = dist.support.check(value)
    with torch.no_grad():
        lp = dist.log_prob(torch.where(inside, value, dist.sample()))
    return torch.where(inside, lp, torch.full_like(lp, -math.inf))


def _cdf(dist, value):
    """CDF of ``dist`` at ``value`` that is 0 below and 1 above the support (no validation error)."""
    value = torch.as_tensor(value, dtype=torch.get_default_dtype())
    if isinstance(dist, EqualMixture):
        return dist.cdf(value)
    inside = dist.support.check(value)
    lower = getattr(dist.support, "lower_bound", -math.inf)
    safe = torch.where(inside, value, dist.mean if torch.isfinite(dist.mean).all() else dist.sample())
    old, dist._validate_args = dist._validate_args, False
    try:
        c = dist.cdf(safe)
    finally:
        dist._validate_args = old
    below = value < torch.as_tensor(lower, dtype=value.dtype)
    return torch.where(inside, c, torch.where(below, torch.zeros_like(c), torch.ones_like(c)))


def cdf(dist, value):
    """``dist.cdf`` extended to all reals; raises ``NotImplementedError`` where torch has no CDF."""
    return _cdf(dist, value)


def _tokens(text):
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise PyprogenError(f"target: unexpected character {text[pos:].strip()[0]!r} at position {pos} "
                                f"in {text!r}; expected Name(number, ...) or Mixture(...)")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text):
        self.text, self.toks, self.i = text, _tokens(text), 0

    def fail(self, what):
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        got = f"{tok[1]!r} at position {tok[2]}" if tok else "end of text"
        raise PyprogenError(f"target: expected {what}, got {got} in {self.text!r}")

    def take(self, kind, value=None, what=None):
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            self.fail(what or repr(value))
        self.i += 1
        return tok[1]

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None, None)

    def target(self, depth):
        if depth > MAX_DEPTH:
            raise PyprogenError(f"target: nesting deeper than {MAX_DEPTH} levels in {self.text!r}")
        name = self.take("name", what="a distribution name")
        if name != "Mixture" and name not in TARGETS:
            raise PyprogenError(f"target: unknown distribution {name!r}; expected Mixture or one of "
                                f"{', '.join(sorted(TARGETS))}")
        self.take("punct", "(")
        args = []
        while True:
            kind = self.peek()[0]
            if kind == "number":
                args.append(float(self.take("number")))
            elif kind == "name":
                args.append(self.target(depth + 1))
            else:
                self.fail("a number or a distribution")
            if self.peek()[1] == ",":
                self.take("punct", ",")
                continue
            self.take("punct", ")", what="',' or ')'")
            return (name, args)

    def parse(self):
        tree = self.target(1)
        if self.i != len(self.toks):
            self.fail("end of text")
        return tree


def _build(tree, text):
    name, args = tree
    if name == "Mixture":
        if not args or not all(isinstance(a, tuple) for a in args):
            raise PyprogenError(f"target: Mixture expects 1 to {MAX_COMPONENTS} distributions, got {text!r}")
        if len(args) > MAX_COMPONENTS:
            raise PyprogenError(f"target: Mixture expects at most {MAX_COMPONENTS} components, got {len(args)}")
        return EqualMixture([_build(a, text) for a in args])
    cls, params = TARGETS[name]
    required = [p for p in params if isinstance(p, str)]
    names = [p if isinstance(p, str) else p[0] for p in params]
    if any(isinstance(a, tuple) for a in args):
        raise PyprogenError(f"target: {name} expects numbers, got a distribution inside it in {text!r}")
    if not len(required) <= len(args) <= len(params):
        n = str(len(required)) if len(required) == len(params) else f"{len(required)} to {len(params)}"
        raise PyprogenError(f"target: {name} expects {n} numbers ({', '.join(names)}), got {len(args)}")
    values = list(args) + [p[1] for p in params[len(args):]]
    for pname, v in zip(names, values):
        if not (math.isfinite(v) and torch.isfinite(torch.tensor(v, dtype=torch.get_default_dtype()))):
            raise PyprogenError(f"target: {name} parameter {pname} must be finite (within float32's ~3.4e38), "
                                f"got {v:g}")
    if name == "Uniform" and not values[0] < values[1]:
        raise PyprogenError(f"target: Uniform expects low < high, got ({values[0]:g}, {values[1]:g})")
    try:
        return cls(*[torch.tensor(v, dtype=torch.get_default_dtype()) for v in values], validate_args=True)
    except ValueError as exc:
        bad = str(exc).split("parameter ")[-1].split(" ")[0] if "parameter " in str(exc) else "parameters"
        raise PyprogenError(f"target: invalid {name} {bad} in {text!r} (e.g. a scale must be > 0)") from None


def _format(tree):
    name, args = tree
    return f"{name}(" + ", ".join(_format(a) if isinstance(a, tuple) else f"{a:g}" for a in args) + ")"


def _tree(text):
    if not isinstance(text, str):
        raise PyprogenError(f"target: expected a string like 'Normal(4, 1.25)', got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise PyprogenError(f"target: expected at most {MAX_LENGTH} characters, got {len(text)}")
    if not text.strip():
        raise PyprogenError("target: expected Name(number, ...) or Mixture(...), got an empty string")
    return _Parser(text).parse()


def parse_target(text) -> Distribution:
    """Parse ``"Normal(4, 1.25)"``, ``"Mixture(Normal(-2, 0.4), Beta(2, 5))"``, ... into a distribution."""
    return _build(_tree(text), text)


def format_target(text) -> str:
    """The canonical spelling of a target (``"Normal( 4,1.250 )"`` -> ``"Normal(4, 1.25)"``), validated."""
    parse_target(text)
    return _format(_tree(text))


def target_mean_std(dist):
    """True (mean, std) of a target as floats; NaN where they do not exist (Cauchy, StudentT df <= 2)."""
    try:
        mean, var = float(dist.mean), float(dist.variance)
    except NotImplementedError:
        return math.nan, math.nan
    if not (math.isfinite(mean) and math.isfinite(var)) or var < 0:
        return (mean if math.isfinite(mean) else math.nan), math.nan
    return mean, math.sqrt(var)
