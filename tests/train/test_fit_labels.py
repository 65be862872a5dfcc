"""fit(model, x, labels=y): labelled rows reach model(x, y) batch by batch, and a labelled run resumes exactly."""
import torch

from pyprogen.models import build
from pyprogen.train import fit


def data(n=96):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, 4, 4, generator=g) < 0.5).float(), torch.arange(n) % 3


def test_each_step_sees_the_labels_of_its_own_rows():
    x, y = data()
    m = build("cvae", (1, 4, 4), num_classes=3, latent_dim=2, hidden=(8,))
    seen = []
    model = m.model

    def spy(x_, y=None, n=None):
        if y is not None and x_ is not None:
            seen.append((x_.clone(), y.clone()))
        return model(x_, y, n)

    m.model = spy
    fit(m, x, labels=y, epochs=2, batch_size=32, progress=False)
    assert len(seen) >= 6
    for xb, yb in seen:  # every (row, label) pair is one of the data's
        idx = [int(((x.reshape(len(x), -1) == r.reshape(1, -1)).all(1) & (y == l)).nonzero()[0]) for r, l in zip(xb, yb)]
        assert len(idx) == len(xb)


def test_a_labelled_run_resumes_exactly(tmp_path):
    x, y = data()
    torch.manual_seed(1)
    a = build("m2", (1, 4, 4), num_classes=3, latent_dim=2, hidden=(8,))
    fit(a, x, labels=torch.where(torch.arange(96) < 30, y, -1), epochs=3, batch_size=32, seed=2, progress=False)
    torch.manual_seed(1)
    b = build("m2", (1, 4, 4), num_classes=3, latent_dim=2, hidden=(8,))
    labels = torch.where(torch.arange(96) < 30, y, -1)
    fit(b, x, labels=labels, epochs=1, batch_size=32, seed=2, progress=False, out=str(tmp_path))
    fit(b, x, labels=labels, epochs=3, batch_size=32, seed=2, progress=False, out=str(tmp_path), resume=True)
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), k
