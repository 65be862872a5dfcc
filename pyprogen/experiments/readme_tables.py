"""The renderers behind README's results blocks (see readme.py): one per ``docs/results/NAME.json``.

Each takes the JSON a committed command wrote and returns the Markdown the README shows, with the
command under it, so a README number is always a function of a committed output.
"""
from .readme import RESULT_TABLES, command_line, fmt, mean_sd, table  # noqa: F401

#: results files kept for the record but shown in the README only through a linked file (none yet)
UNSHOWN = ()


def _source(command, data):
    machine = data.get("machine") or "this 2-core CPU, shared with parallel jobs (CPU time is the fair figure)"
    return f"*Source: `{command}` → `docs/results/…json`; {machine}.*"


@RESULT_TABLES.register("diagonal_pixelrnn_mnist")
def _diagonal_pixelrnn(d):
    c = d["config"]
    ref = "; ".join(f"{k}: {v:.2f}" for k, v in d["reference_nats"].items())
    rows = [[d["model"], f"{c['depth']} layers, h = {c['channels']}", fmt(d["parameters"]),
             f"{d['train_cpu_minutes']:.1f} CPU-min ({d['epochs']:.2f} epochs)", fmt(d["test_nll_nats"], 1),
             fmt(d["test_bits_per_dim"], 3)]]
    return "\n".join([table(["model", "net", "parameters", "training", "test NLL (nats, exact)", "bits/dim"], rows),
                      "", f"Published (binarized MNIST, trained to convergence): {ref} nats.",
                      _source(f"python benchmarks/diagonal_pixelrnn_mnist.py --minutes {c['minutes']:g} "
                              f"--threads {c['threads']}", d)])
