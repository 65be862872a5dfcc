"""Side-by-side timing shared by the overhead benchmarks: every variant runs in every round, in an order
shuffled per round (seeded by the round), so a change of machine load hits all variants alike; a ratio
is the median over rounds of the per-round ratios, not a ratio of medians."""
import json
import random
import statistics
import time


def time_steps(steps, x, batch, *, rounds, n_steps, after_round=None):
    """``{name: [CPU seconds per step, one value per round]}`` for ``steps`` (name -> callable on a batch),
    each round running ``n_steps`` consecutive batches of ``x`` per variant. ``after_round(r)`` is
    called after each round (e.g. to record the load)."""
    times = {name: [] for name in steps}
    for r in range(rounds):
        order = list(steps)
        random.Random(r).shuffle(order)
        for name in order:
            c0 = time.process_time()
            for i in range(n_steps):
                j = i % (len(x) // batch)
                steps[name](x[j * batch:(j + 1) * batch])
            times[name].append((time.process_time() - c0) / n_steps)
        if after_round is not None:
            after_round(r)
    return times


def paired_ratio(times, name, base):
    """Median over rounds of ``times[name][r] / times[base][r]``."""
    return statistics.median(a / b for a, b in zip(times[name], times[base]))


def write_result(result, out):
    """Write ``result`` to ``out`` (atomically, when given) and print it as one JSON line."""
    if out:
        from pyprogen.io import write_json
        write_json(out, result)
    print(json.dumps(result))
