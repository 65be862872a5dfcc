"""Run the fault-injection suite (tests/faults, slow cases included) and print fault x family -> outcome.

    OMP_NUM_THREADS=1 python benchmarks/fault_table.py            # everything (a few minutes)
    OMP_NUM_THREADS=1 python benchmarks/fault_table.py --fast     # the default suite's cases only

Each row counts the faults injected and how the run came out: "recovered exactly" (``--resume``
ended at the uninterrupted run's parameters, ``torch.equal``, and metrics.json), "refused cleanly"
(one line, exit status 2, nothing changed on disk). The rows come from the tests themselves
(tests/faults/conftest.py), so a failing case shows as missing and the exit status is pytest's.
"""
import collections
import json
import os
import subprocess
import sys
import tempfile

FAMILIES = ("vae", "gan", "pixelcnn")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        table = os.path.join(tmp, "faults.json")
        marks = [] if "--fast" in argv else ["-m", "slow or not slow"]
        env = dict(os.environ, PYPROGEN_FAULT_TABLE=table, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        status = subprocess.call([sys.executable, "-m", "pytest", "-q", *marks,
                                  os.path.join(root, "tests", "faults")], cwd=root, env=env)
        rows = json.load(open(table)) if os.path.exists(table) else []
    counts = collections.OrderedDict()
    for row in rows:
        counts.setdefault(row["fault"], collections.defaultdict(collections.Counter))[row["family"]][row["outcome"]] += 1
    print(f"\n| fault | {' | '.join(FAMILIES)} |\n|---|{'---|' * len(FAMILIES)}")
    for fault, per_family in counts.items():
        cells = []
        for family in FAMILIES:
            outcomes = per_family.get(family)
            cells.append("; ".join(f"{outcome} {n}/{n}" if len(outcomes) == 1 else f"{outcome} {n}"
                                   for outcome, n in outcomes.items()) if outcomes else "—")
        print(f"| {fault} | {' | '.join(cells)} |")
    total = sum(sum(c.values()) for f in counts.values() for c in f.values())
    print(f"\n{total} faults injected; pytest exit status {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
