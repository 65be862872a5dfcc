"""fit(precision="bf16"): each step's forward pass under bfloat16 autocast, parameters and optimiser fp32,
exact resume, one-line errors (pyprogen/train/precision.py)."""
import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit


def _gan(seed=0):
    set_seed(seed)
    return build("gan", (1, 28, 28), latent_dim=8, width=4, dense=(16, 8), gamma=1.0, ema=0.9)


def _images(n=32, seed=1):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _dtypes_seen(gan):
    """Output dtype of the critic's first conv and of the generator's first Linear during training."""
    seen = []
    hooks = [m.register_forward_hook(lambda mod, args, out: seen.append((type(mod).__name__, out.dtype)))
             for m in (gan.critic.net[0], gan.generator.project[0])]
    return seen, hooks


@pytest.mark.parametrize("precision,dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_training_steps_compute_in_the_asked_dtype_with_fp32_parameters(precision, dtype):
    gan = _gan()
    seen, hooks = _dtypes_seen(gan)
    fit(gan, _images(), epochs=1, batch_size=16, lr=1e-3, progress=False, precision=precision)
    for h in hooks:
        h.remove()
    assert {d for _, d in seen} == {dtype}  # both nets, every training forward pass
    assert {p.dtype for p in gan.parameters()} == {torch.float32}
    with torch.no_grad():
        assert gan.sample(4).dtype == torch.float32  # sampling after training is fp32 whatever trained it


def test_bf16_changes_the_numbers_but_not_by_much():
    """Same seed, same data: bf16 training lands near the fp32 run (tolerance 0.05 on each epoch's mean
    losses of order 1) but not on it (the two differ by more than 1e-6, so the option is really on)."""
    runs = [fit(_gan(), _images(), epochs=2, batch_size=16, lr=1e-3, progress=False, precision=p)
            for p in ("fp32", "bf16")]
    keys = [k for k in runs[0][-1] if k not in ("epoch", "seconds")]
    diffs = [abs(a[k] - b[k]) for a, b in zip(*runs) for k in keys]
    assert max(diffs) < 0.05
    assert max(diffs) > 1e-6


def test_bf16_run_resumes_exactly(tmp_path):
    full = _gan()
    h_full = fit(full, _images(), epochs=2, batch_size=16, lr=1e-3, progress=False, precision="bf16",
                 out=str(tmp_path / "full"))
    part = _gan()
    fit(part, _images(), epochs=1, batch_size=16, lr=1e-3, progress=False, precision="bf16", out=str(tmp_path / "split"))
    resumed = _gan(seed=5)  # other initial weights: everything must come from the checkpoint
    h_res = fit(resumed, _images(), epochs=2, batch_size=16, lr=1e-3, progress=False, precision="bf16",
                out=str(tmp_path / "split"), resume=True)
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in h_res] == \
        [{k: v for k, v in e.items() if k != "seconds"} for e in h_full]
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_resume_with_another_precision_and_bad_values_are_one_line_errors(tmp_path):
    fit(_gan(), _images(), epochs=1, batch_size=16, lr=1e-3, progress=False, precision="bf16", out=str(tmp_path))
    with pytest.raises(PyprogenError, match=r"^resume: precision was bf16 in the checkpoint, got fp32$"):
        fit(_gan(), _images(), epochs=2, batch_size=16, lr=1e-3, progress=False, out=str(tmp_path), resume=True)
    for bad in ("fp16", "bfloat16", None, 16):
        with pytest.raises(PyprogenError, match=r"^precision: expected one of fp32, bf16, got "):
            fit(_gan(), _images(), epochs=1, batch_size=16, lr=1e-3, progress=False, precision=bad)
