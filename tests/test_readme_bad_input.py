"""README's "Bad input" table against the CLI: each row that needs no prepared file is run in-process
(``pyprogen.cli.main``, from an empty scratch directory) and the line it prints must equal the README's, so a
registry that grows (a new model, loss or data set) cannot leave a stale list of names in the table.

Rows that need prepared files (pickled .npy files, TOML files, image folders, trained runs, a held lock)
are not run here (:data:`RUNNABLE` selects the others); their lines name no registry.
"""
import os
import re
import shlex

import pytest
import torch

from pyprogen.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "README.md")) as _f:
    README = _f.read()

def _table():
    section = README.split("\n## Bad input", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        m = re.match(r"\| (?P<case>.+?) \| `(?P<cmd>[^`]+)` \| `(?P<line>.+)` \|$", line)
        if m:
            rows.append((m["case"], m["cmd"], m["line"]))
    return rows


ROWS = _table()
#: rows whose command needs nothing but the shipped data, in an empty directory
RUNNABLE = re.compile(r"^pyprogen (trian|evaluate nowhere|sample nowhere|stability --(target|methods)|"
                      r"train (--data ring8|nonsense|vae --data (mnsit|nope\.npy|ring8 --(loss|epochs|lr|seed|latent-dim|"
                      r"grad-clip|image-size|device)|'(Exponential|Normal)\()))")


def test_the_table_is_found():
    assert len(ROWS) > 30 and sum(bool(RUNNABLE.match(cmd)) for _, cmd, _ in ROWS) >= 20


@pytest.mark.parametrize("case, cmd, expected", [r for r in ROWS if RUNNABLE.match(r[1])], ids=[r[0] for r in ROWS
                                                                                             if RUNNABLE.match(r[1])])
def test_readme_bad_input_row_prints_that_line(case, cmd, expected, tmp_path, monkeypatch, capsys):
    if "--device cuda" in cmd and torch.cuda.is_available():
        pytest.skip("the row is about a machine without a GPU")
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(cmd)[1:]
    assert main(argv) == 2, case
    err = capsys.readouterr().err
    assert err.splitlines() == [expected], f"README row {case!r}: the CLI now prints\n{err}"
