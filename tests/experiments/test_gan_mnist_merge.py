"""benchmarks/gan_mnist.py merge: runs written side by side by two processes join into one file whose targets
are recomputed over every seed (mean, sample sd, met by the mean and by every seed)."""
import json
import math
import sys

import pytest

RECIPE = {"model": {"dense": [1024, 512]}, "fit": {"epochs": 75}}


def _part(tmp_path, name, seeds, precision, recipe=RECIPE):
    runs = [{"seed": s, "gan": {"cpu_s": 700.0 + s, "fid": 20.0 + s, "precision": p, "recall": 0.88,
                                "classes_covered": 10, "recipe": recipe},
             "vae": {"cpu_s": 4.0, "fid": 150.0, "precision": 0.8, "recall": 0.25, "classes_covered": 10}}
            for s, p in zip(seeds, precision)]
    d = {"config": {"note": f"the GAN ...; targets on the mean over {len(seeds)} seeds", "n_real": 2000,
                    "command": f"python benchmarks/gan_mnist.py defaults ({name})"},
         "runs": runs, "machine": "m", "figures": [f"{name}.png"] if name == "a" else []}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(d))
    return str(path)


def test_merged_targets_equal_a_hand_computation(tmp_path, benchmark_script, monkeypatch):
    gm = benchmark_script("gan_mnist")
    a, b = _part(tmp_path, "a", [0, 1, 2], [0.80, 0.78, 0.69]), _part(tmp_path, "b", [3, 4], [0.79, 0.81])
    out = str(tmp_path / "all.json")
    monkeypatch.setattr(sys, "argv", ["gan_mnist.py", "merge", a, b, "--out", out])
    gm.main(["merge", a, b, "--out", out])
    d = json.load(open(out))
    assert [r["seed"] for r in d["runs"]] == [0, 1, 2, 3, 4] and d["figures"] == ["a.png"]
    p = [0.80, 0.78, 0.69, 0.79, 0.81]
    mean = sum(p) / 5
    sd = math.sqrt(sum((v - mean) ** 2 for v in p) / 4)
    t = d["targets"]["precision"]
    assert t["gan"] == round(mean, 4) == 0.774 and t["sd"] == round(sd, 4)
    assert t["met"] is True and t["met_every_seed"] is False  # seed 2 is below 0.7
    assert d["targets"]["fid_below_vae"]["met"] is True
    assert d["config"]["note"].endswith("targets on the mean over 5 seeds")
    assert "(a); python benchmarks/gan_mnist.py defaults (b); then python benchmarks/gan_mnist.py merge" in \
        d["config"]["command"]


def test_overlapping_seeds_or_other_recipes_are_refused(tmp_path, benchmark_script):
    gm = benchmark_script("gan_mnist")
    a = _part(tmp_path, "a", [0, 1], [0.8, 0.8])
    with pytest.raises(SystemExit, match="^merge: seed 1 is in more than one input$"):
        gm.main(["merge", a, _part(tmp_path, "b", [1, 2], [0.8, 0.8]), "--out", str(tmp_path / "x.json")])
    other = {"model": {"dense": 0}, "fit": {"epochs": 75}}
    with pytest.raises(SystemExit, match="^merge: the inputs used different GAN recipes$"):
        gm.main(["merge", a, _part(tmp_path, "c", [5], [0.8], recipe=other), "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()


def test_a_thread_check_is_kept_beside_the_runs_and_must_match_a_seed(tmp_path, benchmark_script):
    gm = benchmark_script("gan_mnist")
    a = _part(tmp_path, "a", [0, 1], [0.8, 0.78])
    two = json.loads(open(_part(tmp_path, "t", [0], [0.79])).read())
    two["config"]["torch_threads"] = 2
    (tmp_path / "t.json").write_text(json.dumps(two))
    out = tmp_path / "all.json"
    gm.main(["merge", a, "--thread-check", str(tmp_path / "t.json"), "--out", str(out)])
    tc = json.load(open(out))["thread_check"]
    assert tc["threads"] == 2 and tc["seed"] == 0 and tc["gan"]["precision"] == 0.79
    assert [r["seed"] for r in json.load(open(out))["runs"]] == [0, 1]  # not counted among the seeds
    with pytest.raises(SystemExit, match="^--thread-check: seed 7 with this recipe is not among the runs$"):
        gm.main(["merge", a, "--thread-check", _part(tmp_path, "u", [7], [0.8]), "--out", str(out)])
