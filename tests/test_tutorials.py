"""Every tutorial executes top to bottom in its reduced-size mode (PYPROGEN_TUTORIAL_QUICK=1).

The tutorials are jupytext percent-format scripts: each is checked to open as a notebook with
code and Markdown cells, then run with this interpreter in a temporary directory (what
``jupytext --to notebook --execute`` would run, without a kernel's start-up cost).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("[0-9][0-9]_*.py"))
#: marker lines every tutorial prints (a run that stops early misses them)
EXPECTED = {
    "01_first_vae.py": "test NLL (IWAE bound)",
    "02_beta_tcvae_dsprites.py": "| beta-tcvae |",
    "03_wae.py": "wae-mmd  MMD²(q(z), p(z))",
    "04_gans.py": "ns-gan",
    "05_diagnostics.py": "k̂ per point",
    "06_pixelcnn.py": "VAE IWAE bound, K=  100",
    "07_flow_guides.py": "iaf guide:",
    "08_semi_supervised.py": "test accuracy of q(y|x)",
}


def test_every_tutorial_is_listed_with_its_marker():
    assert [p.name for p in TUTORIALS] == sorted(EXPECTED)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_in_quick_mode(path, tmp_path):
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(path)
    kinds = {cell.cell_type for cell in notebook.cells}
    assert kinds == {"code", "markdown"} and len(notebook.cells) >= 5
    env = dict(os.environ, PYPROGEN_TUTORIAL_QUICK="1", PYPROGEN_TUTORIAL_OUT=str(tmp_path / "out"),
               MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYPROGEN_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert EXPECTED[path.name] in proc.stdout


def test_a_tutorial_executes_as_a_notebook_in_a_kernel(tmp_path, monkeypatch):
    """One tutorial through jupytext + nbclient (an ipykernel), as ``jupyter`` would run it."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for key, value in {"PYPROGEN_TUTORIAL_QUICK": "1", "PYPROGEN_TUTORIAL_OUT": str(tmp_path / "out"),
                       "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(key, value)
    path = next(p for p in TUTORIALS if p.name == "03_wae.py")
    notebook = jupytext.read(path)
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    stdout = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.get("name") == "stdout")
    assert EXPECTED[path.name] in stdout
