"""Semi-supervised data: keep a few labels, mark the rest missing, and balance the minibatches.

Kingma et al. (2014) train M2 on MNIST with 100, 600, 1,000 or 3,000 labels, the same number per
class; the other images are unlabelled. :func:`keep_labels` does that with ``MISSING`` (−1) for a
hidden label, the convention of :class:`pyprogen.models.M2`. With 3,000 labels in 50,000 images a
random minibatch of 100 holds about 6 labelled points, so the classifier hardly learns;
:func:`balanced_rows` repeats the labelled rows until they are about half of an epoch, so that
``fit``'s ordinary minibatches hold as many labelled as unlabelled points in expectation, as the
paper's (and Pyro's SS-VAE example's) alternating labelled/unlabelled batches do.
"""
import torch

from ..errors import PyprogenError

#: the label of an unlabelled point (pyprogen.models.M2 reads it as missing)
MISSING = -1


def keep_labels(y, num_labels, seed=0):
    """A copy of ``y`` with all but ``num_labels`` labels set to ``MISSING``: the same number per class
    (``num_labels / K`` each; the remainder to the first classes), chosen by a generator seeded with ``seed``.

    ``num_labels`` None or ≥ len(y) keeps every label."""
    y = torch.as_tensor(y).long().reshape(-1)
    if num_labels is None or num_labels >= len(y):
        return y.clone()
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise PyprogenError(f"labels: expected a positive number of labels to keep, got {num_labels!r}")
    classes = torch.unique(y)
    if num_labels < len(classes):
        raise PyprogenError(f"labels: expected at least one label per class ({len(classes)}), got {num_labels}")
    gen = torch.Generator().manual_seed(int(seed))
    out = torch.full_like(y, MISSING)
    for i, c in enumerate(classes.tolist()):
        rows = (y == c).nonzero().reshape(-1)
        take = num_labels // len(classes) + (1 if i < num_labels % len(classes) else 0)
        if take > len(rows):
            raise PyprogenError(f"labels: class {c} has only {len(rows)} points, {take} labels asked for")
        keep = rows[torch.randperm(len(rows), generator=gen)[:take]]
        out[keep] = c
    return out


def balanced_rows(y):
    """Row indices of the data with each labelled row repeated ``r = round(unlabelled / labelled)`` times
    (at least once): labelled rows are then about half of an epoch. All rows once when nothing or
    everything is labelled."""
    y = torch.as_tensor(y).reshape(-1)
    known = y != MISSING
    n_known, n_missing = int(known.sum()), int((~known).sum())
    rows = torch.arange(len(y))
    if n_known == 0 or n_missing == 0:
        return rows
    repeat = max(1, round(n_missing / n_known))
    return torch.cat([rows[~known], rows[known].repeat(repeat)])
