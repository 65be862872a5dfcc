"""Config files: flat TOML ``key = value`` with the command's flag names as keys.

``pyprogen train --config FILE.toml`` reads one (stdlib ``tomllib``); every run directory gets its
resolved ``config.toml`` (written by :func:`dumps` through the atomic writer). Keys are the flag
names without the leading dashes, spelled with dashes as on the command line (``latent-dim = 16``,
``batch-size = 128``, ``no-progress = true``); the positional ``model`` is ``model = "vae"``.
Values are TOML strings, integers, floats, booleans or arrays of these; each is checked by the
flag's own parser (type, range, choices), so a file accepts exactly what the command line does.
"""
import argparse
import math
import os
import re

from .errors import PyprogenError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# -- writing ------------------------------------------------------------------------------------
def _string(text):
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _value(value, key):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest round-trip spelling; 1e-05 and 1e+16 are valid TOML floats
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, key) for v in value) + "]"
    raise TypeError(f"config key {key!r}: cannot write a {type(value).__name__} to TOML")


def dumps(mapping, header=None):
    """Flat TOML text for ``mapping`` (str/int/float/bool and lists of them); ``None`` values are left out."""
    lines = [f"# {line}" for line in (header or "").splitlines()]
    for key, value in mapping.items():
        if value is None:
            continue
        name = key if _BARE_KEY.match(key) else _string(key)
        lines.append(f"{name} = {_value(value, key)}")
    return "\n".join(lines) + "\n"


def write_config(path, mapping, header=None):
    from .io import write_text

    write_text(path, dumps(mapping, header))


# -- reading ------------------------------------------------------------------------------------
def read_toml(path, argument="config"):
    """The table of a TOML file; one line on a missing, unreadable or malformed file."""
    import tomllib

    if not isinstance(path, str) or not path or "\x00" in path:
        raise PyprogenError(f"{argument}: expected a path to a .toml file, got {path!r}")
    if not os.path.isfile(path):
        raise PyprogenError(f"{argument}: no such file {path!r}")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise PyprogenError(f"{argument}: {path} is not valid TOML ({first})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PyprogenError(f"{argument}: could not read {path} ({exc.__class__.__name__})") from None


def flag_key(action):
    """The config key of an argparse action: its long option without dashes, or a positional's name."""
    longs = [o for o in action.option_strings if o.startswith("--")]
    return (longs[0] if longs else action.option_strings[0] if action.option_strings else action.dest).lstrip("-")


def config_actions(parser, skip=("help", "config")):
    """``{key: action}`` for every argument of ``parser`` a config file may set."""
    return {flag_key(a): a for a in parser._actions if a.dest not in skip}


def _element(key, action, value, where):
    """One value checked the way the flag's parser would; returns it in the type argparse gives."""
    parse, kind = action.type, getattr(action.type, "kind", None)
    if kind is not None:  # a bounded number (cli.number)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
        try:
            if not ok:
                raise argparse.ArgumentTypeError
            value = parse(str(value))
        except argparse.ArgumentTypeError:
            raise PyprogenError(f"{where}: {key}: expected {parse.what}, got {value!r}") from None
    elif not isinstance(value, str):
        raise PyprogenError(f"{where}: {key}: expected a string, got {value!r}")
    elif parse is not None:
        try:
            value = parse(value)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise PyprogenError(f"{where}: {key}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise PyprogenError(f"{where}: {key}: expected one of {', '.join(map(str, action.choices))}, got {value!r}")
    return value


def check_config(table, parser, source, *, extra=()):
    """``{dest: value}`` from a config table, every value checked by the flag it stands for.

    :param extra: further keys accepted and returned as they are (facts a run records, such as
        the data fingerprint), keyed by themselves.
    Unknown keys, wrong types and out-of-range values raise one line naming the key.
    """
    where = f"config ({source})"
    actions = config_actions(parser)
    out = {}
    for key, value in table.items():
        if key in extra:
            out[key] = value
            continue
        action = actions.get(key)
        if action is None and key.replace("_", "-") in actions:
            raise PyprogenError(f"{where}: unknown key {key!r}; write it {key.replace('_', '-')!r} "
                                "(keys are the flag names, spelled with dashes)")
        if action is None:
            raise PyprogenError(f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(actions))} "
                                "(the flag names, spelled with dashes)")
        if action.nargs == 0:  # a switch (--resume, --no-progress)
            if not isinstance(value, bool):
                raise PyprogenError(f"{where}: {key}: expected true or false, got {value!r}")
            out[action.dest] = value
        elif action.nargs in ("+", "*") or getattr(action, "accumulates", False) and isinstance(value, list):
            values = value if isinstance(value, list) else [value]
            if not values:
                raise PyprogenError(f"{where}: {key}: expected at least one value, got []")
            items = [_element(key, action, v, where) for v in values]
            out[action.dest] = [i for item in items for i in (item if isinstance(item, list) else [item])]
        else:
            out[action.dest] = _element(key, action, value, where)
    return out
