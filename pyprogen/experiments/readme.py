"""README tables rendered from committed results: every number in README.md has a JSON source.

A README block

    <!-- results: NAME -->
    ...table...
    <!-- /results -->

is the output of the renderer registered as ``NAME`` in :data:`RESULT_TABLES` applied to
``docs/results/NAME.json`` (which the command named in that JSON wrote). ``python -m
pyprogen.experiments.readme --write`` regenerates every block; ``--check`` (and
tests/experiments/test_readme.py) fails when a block differs from its JSON, so a hand-edited or
stale number cannot land. A renderer prints numbers only to the digits the JSON's producer
showed to be stable (the same for 1 and 2 torch threads).
"""
import argparse
import json
import os
import re
import sys

from ..errors import PyprogenError
from ..registry import Registry

RESULT_TABLES = Registry("result table", argument="results")
BLOCK = re.compile(r"<!-- results: (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /results -->", re.S)
RESULTS_DIR = os.path.join("docs", "results")


def load_result(name, root="."):
    path = os.path.join(root, RESULTS_DIR, f"{name}.json")
    if not os.path.isfile(path):
        raise PyprogenError(f"results: no {path} for the README block {name!r}")
    with open(path) as f:
        return json.load(f)


def fmt(value, digits=2, *, missing="n/a"):
    """A number to ``digits`` decimals (thousands separated for integers); None -> ``missing``."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def mean_sd(mean, sd, digits=2):
    """``m ± s`` (or ``m`` when there is no spread, ``n/a`` when there is no value)."""
    if mean is None:
        return "n/a"
    return fmt(mean, digits) if sd is None else f"{fmt(mean, digits)} ± {fmt(sd, digits)}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line(data):
    """The italic line under a table: the command that made the JSON, and the machine."""
    parts = [f"`{data['command']}`"] if data.get("command") else []
    if data.get("machine"):
        parts.append(data["machine"])
    return f"*Source: {'; '.join(parts)} → `docs/results/…json`.*" if parts else ""


def render(name, root="."):
    data = load_result(name, root)
    return RESULT_TABLES.lookup(name)(data).rstrip() + "\n"


def blocks(text):
    return [(m.group("name"), m.group("body")) for m in BLOCK.finditer(text)]


def rewrite(text, root="."):
    return BLOCK.sub(lambda m: f"<!-- results: {m.group('name')} -->\n{render(m.group('name'), root)}<!-- /results -->",
                     text)


def stale_blocks(text, root="."):
    """Names of the README blocks that differ from what their JSON renders to."""
    return [name for name, body in blocks(text) if body != render(name, root)]


def main(argv=None):
    # run as ``python -m``, this file is ``__main__``: use the package's module, where the renderers register
    from pyprogen.experiments import readme, readme_tables  # noqa: F401

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readme", nargs="?", default="README.md")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate every results block in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if a block differs from its JSON")
    args = parser.parse_args(argv)
    root = os.path.dirname(os.path.abspath(args.readme))
    with open(args.readme) as f:
        text = f.read()
    if args.write:
        from ..io import write_text

        write_text(args.readme, readme.rewrite(text, root))
        return 0
    stale = readme.stale_blocks(text, root)
    if stale:
        print(f"stale README blocks: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
