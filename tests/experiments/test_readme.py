"""README.md against its sources: every results block equals what its committed JSON renders to,
every figure the README links exists, every figure under docs/figures is linked or named by a results JSON, and
every results JSON is rendered into a block or linked."""
import os
import re

import pytest

from pyprogen.errors import PyprogenError
from pyprogen.experiments import readme, readme_tables  # noqa: F401  (renderers register themselves)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "README.md")) as _f:
    README = _f.read()
BLOCKS = readme.blocks(README)


@pytest.mark.parametrize("name, body", BLOCKS or [pytest.param(None, None, marks=pytest.mark.skip("no blocks"))],
                         ids=[n for n, _ in BLOCKS] or ["none"])
def test_readme_block_equals_its_committed_json(name, body):
    assert body == readme.render(name, ROOT), f"README block {name!r} differs from docs/results/{name}.json; " \
                                              "run python -m pyprogen.experiments.readme --write"


def test_figures_are_linked_and_exist():
    linked = set(re.findall(r"\((docs/figures/[^)\s]+\.png)\)", README))
    for path in linked:
        assert os.path.isfile(os.path.join(ROOT, path)), path
    figures = os.path.join(ROOT, "docs", "figures")
    on_disk = {f"docs/figures/{f}" for f in (os.listdir(figures) if os.path.isdir(figures) else []) if f.endswith(".png")}
    results = os.path.join(ROOT, "docs", "results")
    named = "".join(open(os.path.join(results, f)).read() for f in os.listdir(results) if f.endswith(".json"))
    unlinked = {f for f in on_disk - linked if os.path.basename(f) not in named}  # a results JSON names its figures
    assert not unlinked, f"figures linked from nowhere and made by no recorded command: {sorted(unlinked)}"


def test_every_results_json_is_rendered_or_linked():
    results = os.path.join(ROOT, "docs", "results")
    names = sorted(f[:-5] for f in os.listdir(results) if f.endswith(".json"))
    rendered = {name for name, _ in BLOCKS}
    orphans = [n for n in names if n not in rendered and f"docs/results/{n}.json" not in README]
    assert not orphans, f"results with no README block and no link: {orphans}"


def test_a_stale_block_is_detected(tmp_path):
    os.makedirs(tmp_path / "docs" / "results")
    (tmp_path / "docs" / "results" / "toy.json").write_text('{"value": 1.23456, "command": "make toy"}')
    readme.RESULT_TABLES.register("toy")(lambda d: readme.table(["value"], [[readme.fmt(d["value"])]]))
    try:
        good = "intro\n<!-- results: toy -->\n" + readme.render("toy", str(tmp_path)) + "<!-- /results -->\n"
        assert readme.stale_blocks(good, str(tmp_path)) == []
        assert readme.stale_blocks(good.replace("1.23", "1.24"), str(tmp_path)) == ["toy"]
        assert "| 1.23 |" in readme.rewrite(good.replace("1.23", "9.99"), str(tmp_path))
        with pytest.raises(PyprogenError, match="no .*missing.json"):
            readme.render("missing", str(tmp_path))
    finally:
        readme.RESULT_TABLES._entries.pop("toy")
