"""MNIST GAN (DCGAN nets) against the VAE in the same run, in the project's classifier features.

- ``track``: train a GAN recipe (``pyprogen.models.gan_recipes`` "mnist" with ``--set key=value``
  overrides) with the project's step object; every ``--every`` generator steps score 2,000 samples
  of the EMA generator (and the raw one) against 2,000 test images: Fréchet distance, precision,
  recall (Kynkäänniemi et al. 2019, k = 3), classes covered (PacGAN's one-fifth rule).
- ``probe``: sampling-side variants of a saved model (BatchNorm statistics of the EMA generator, critic
  rejection sampling, importance resampling, truncation) in the same metrics.
- ``defaults``: the "mnist" recipe exactly as ``fit`` runs it, then the VAE of ``pyprogen compare
  --data mnist`` (latent 32, 10 epochs, batch 128, lr 1e-3) on the same training images; the same
  metrics for both, CPU seconds for each, a sample grid of the GAN, and issue 14's targets checked
  on the mean over seeds (``targets``: mean, sd, met by the mean, met by every seed).
- ``merge``: join ``defaults`` files that processes running side by side wrote for disjoint seeds.

Data: the shipped 10,000-image subset in grey levels, what ``pyprogen train gan --data mnist`` trains
on (``--binarise``: binarised at 0.5, as ``pyprogen compare`` scores them); the test split's first
2,000 images in the same form as the real sample; ``pyprogen compare``'s cached feature classifier
(5 epochs, trained on the binarised images). In ``defaults`` the VAE is trained on the binarised
images (as compare does) and scored against the same real sample as the GAN.

    python benchmarks/gan_mnist.py track --steps 10000 --every 2000 --set spectral_norm=True
    python benchmarks/gan_mnist.py track --steps 6000 --every 3000 --set decay=6000 --save /tmp/g6k.pt
    python benchmarks/gan_mnist.py probe --load /tmp/g6k.pt --out /tmp/probe.json
    python benchmarks/gan_mnist.py defaults --seeds 3 --out docs/results/gan_mnist.json \
        --figure docs/figures/gan_mnist_samples.png
    python benchmarks/gan_mnist.py merge /tmp/a.json /tmp/b.json --out docs/results/gan_mnist.json
"""
import argparse
import ast
import copy
import json
import math
import shlex
import os
import sys
import time

import pyro
import torch

from pyprogen.data import load_dataset
from pyprogen.experiments.compare import _binary
from pyprogen.infer import adversarial_loss
from pyprogen.infer.step import make_step
from pyprogen.io import write_json
from pyprogen.metrics.features import feature_classifier, sample_metrics
from pyprogen.models import build
from pyprogen.models.gan_recipes import gan_recipe
from pyprogen.seeding import set_seed
from pyprogen.train.loop import epoch_batches
from pyprogen.train.precision import autocast

N_REAL = 2000
VAE = {"model": {"latent_dim": 32, "likelihood": "bernoulli"}, "fit": {"epochs": 10, "batch_size": 128, "lr": 1e-3}}


def setup(binarise=False):
    """(training images, real sample, classifier, its info). Grey levels (what ``pyprogen train gan
    --data mnist`` trains on) unless ``binarise``; the real sample is the test split's first images
    in the same form. The classifier is ``pyprogen compare``'s (trained on binarised images, cached)."""
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    clf, info = feature_classifier(_binary(train.x), train.y, x_test=_binary(test.x), y_test=test.y, epochs=5,
                                   progress=False)
    if binarise:
        return _binary(train.x), _binary(test.x[:N_REAL]), clf, info
    return train.x, test.x[:N_REAL], clf, info


def metrics(clf, real, model, seed, ema=True):
    mode = model.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10_000 + seed)
        model.train(not ema)
        fake = model.sample(N_REAL).float().clamp(0, 1)
    model.train(mode)
    m = sample_metrics(clf, real, fake)
    return {"fid": round(m["fid"], 2), "precision": round(m["precision"], 4), "recall": round(m["recall"], 4),
            "classes_covered": m["classes_covered"], "class_counts": m.get("class_counts")}, fake


def parse_sets(items):
    out = {}
    for item in items or ():
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def job_track(args):
    x, real, clf, info = setup(args.binarise)
    sets = parse_sets(args.set)
    recipe = gan_recipe("mnist")
    fit_kw = {**recipe["fit"], **{k: v for k, v in sets.items() if k in ("batch_size", "lr", "precision")}}
    model_kw = {**recipe["model"], **{k: v for k, v in sets.items()
                                      if k not in ("batch_size", "lr", "loss", "epochs", "decay", "precision")}}
    decay = sets.get("decay", 0)  # cosine decay of both learning rates over this many steps (0: constant)
    previous = json.load(open(args.out)) if args.out and os.path.isfile(args.out) else {}
    runs, commands = previous.get("runs", []), previous.get("commands", [])  # each invocation adds its runs
    commands.append("python benchmarks/gan_mnist.py " + shlex.join(sys.argv[1:]))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        set_seed(seed)
        gan = build("gan", (1, 28, 28), **model_kw)
        name = sets.get("loss")
        loss = gan.default_loss() if name is None else adversarial_loss(name, **gan.loss_kwargs(name))
        pyro.clear_param_store()
        step = make_step(gan, loss, fit_kw["lr"])
        set_seed(seed)
        bs = fit_kw["batch_size"]
        step.initialise(x[epoch_batches(len(x), bs, seed, 0)[0]])
        base = [[g["lr"] for g in s.optimizer.param_groups] for s in step.optimizers()]
        step_precision = autocast(fit_kw.get("precision", "fp32"), torch.device("cpu"))
        track, done, epoch, cpu = [], 0, 0, 0.0
        gan.train()
        t0 = time.process_time()
        while done < args.steps:
            for idx in epoch_batches(len(x), bs, seed, epoch):
                f = 0.5 * (1 + math.cos(math.pi * min(done, decay) / decay)) if decay else 1.0
                for spec, lrs in zip(step.optimizers(), base):
                    for g, lr0 in zip(spec.optimizer.param_groups, lrs):
                        g["lr"] = lr0 * f
                with step_precision():
                    step.step(x[idx])
                done += 1
                if done % args.every == 0 or done == args.steps:
                    cpu += time.process_time() - t0
                    row = {"step": done, "epoch": round(done * bs / len(x), 2), "cpu_s": round(cpu, 1)}
                    if model_kw.get("ema"):
                        row["ema"] = metrics(clf, real, gan, seed, ema=True)[0]
                    row["raw"] = metrics(clf, real, gan, seed, ema=False)[0]
                    track.append(row)
                    print(seed, args.set, {k: (v if not isinstance(v, dict) else {a: b for a, b in v.items()
                                                                                    if a != "class_counts"})
                                           for k, v in row.items()}, flush=True)
                    t0 = time.process_time()
                if done >= args.steps:
                    break
            epoch += 1
        runs.append({"seed": seed, "set": args.set, "model": model_kw, "fit": fit_kw, "decay_steps": decay,
                     "track": track})
        if args.save:  # the weights, and beside them the command and last scores that made them (read by probe)
            torch.save(gan.state_dict(), args.save)
            write_json(args.save + ".json", {"command": "python benchmarks/gan_mnist.py " + shlex.join(sys.argv[1:]),
                                             "seed": seed, "last": track[-1]})
        if args.out:
            write_json(args.out, {"classifier": {k: v for k, v in info.items() if k != "path"}, "runs": runs, "commands": commands,
                                  "machine": "this 2-core CPU (AMD EPYC, avx512_bf16), two runs side by side; "
                                             "cpu_s = training process time, 1 torch thread"})


def recalibrated(net, batches=100, batch_size=64, seed=5):
    """A copy of ``net`` whose BatchNorm running statistics are recomputed (cumulative average over
    ``batches`` batches of prior draws) for its own weights: the EMA generator otherwise carries the
    live generator's statistics."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(batches):
            net(torch.randn(batch_size, net_latent(net), generator=g))
    return net.eval()


def net_latent(net):
    return next(m for m in net.modules() if isinstance(m, torch.nn.Linear)).in_features


def job_probe(args):
    """Sampling-side variants of a model saved by ``track --save``: what the sampler, not training, can change.

    EMA/raw generator in eval mode (running BatchNorm statistics) or train mode (the 2,000 samples' own
    statistics) or with recalibrated statistics; the critic's logit on real and generated images; critic
    rejection sampling (Azadi et al. 2019: accept x with probability exp(D(x) − max D), the density-ratio
    correction when D is the optimal NS-GAN logit) and sampling-importance-resampling with weights exp(D(x));
    truncated latents z·ψ (Brock et al. 2019)."""
    x, real, clf, info = setup(args.binarise)
    gan = build("gan", (1, 28, 28), **gan_recipe("mnist")["model"])
    gan.load_state_dict(torch.load(args.load, weights_only=True))
    gan.eval()
    ema, raw, critic = gan.generator_ema.module, gan.generator, gan.critic
    latent = net_latent(raw)
    z = torch.randn(20 * N_REAL, latent, generator=torch.Generator().manual_seed(10_000))
    rows = {}

    def score(name, fake):
        m = sample_metrics(clf, real, fake[:N_REAL].float().clamp(0, 1))
        rows[name] = {"fid": round(m["fid"], 2), "precision": round(m["precision"], 4),
                      "recall": round(m["recall"], 4), "classes_covered": m["classes_covered"]}
        print(f"{name:44s} {rows[name]}", flush=True)

    with torch.no_grad():
        for name, net in (("ema", ema), ("raw", raw)):
            score(f"{name}, eval mode", net(z[:N_REAL]))
            score(f"{name}, recalibrated BatchNorm", recalibrated(net)(z[:N_REAL]))
            trained = copy.deepcopy(net).train()
            score(f"{name}, train mode (batch statistics)", trained(z[:N_REAL]))
        fake = torch.cat([ema(c) for c in z.split(1000)]).clamp(0, 1)
        logit = torch.cat([critic(c).reshape(-1) for c in fake.split(1000)])
        real_logit = critic(real).reshape(-1)
        g = torch.Generator().manual_seed(1)
        accept = torch.rand(len(logit), generator=g) < torch.exp(logit - logit.max())
        score(f"ema, critic rejection (accepted {float(accept.float().mean()):.2f})", fake[accept])
        score("ema, importance resampling exp(D)", fake[torch.multinomial(torch.softmax(logit, 0), N_REAL,
                                                                          replacement=True, generator=g)])
        for psi in (0.8, 0.6):
            score(f"ema, truncation psi={psi}", ema(z[:N_REAL] * psi))
    made = args.load + ".json"
    out = {"model": json.load(open(made)) if os.path.isfile(made) else {"command": "unknown"},
           "critic_logit": {"generated_mean": round(float(logit.mean()), 3), "generated_sd": round(float(logit.std()), 3),
                            "real_mean": round(float(real_logit.mean()), 3), "real_sd": round(float(real_logit.std()), 3)},
           "variants": rows, "command": "python benchmarks/gan_mnist.py " + shlex.join(sys.argv[1:])}
    print(json.dumps(out["critic_logit"]))
    if args.out:
        write_json(args.out, out)


TARGETS = {"precision": 0.7, "recall": 0.5, "classes_covered": 10, "cpu_s": 900}


def _mean_sd(values):
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def targets(runs):
    """Issue 14's targets on the mean over seeds (and whether every seed met them)."""
    out = {}
    for key, target in TARGETS.items():
        vals = [r["gan"][key] for r in runs]
        m, sd = _mean_sd(vals)
        ok = (lambda v: v <= target) if key == "cpu_s" else (lambda v: v >= target)
        out[key] = {"target": target, "gan": round(m, 4), "sd": round(sd, 4), "met": ok(m),
                    "met_every_seed": all(ok(v) for v in vals)}
    gan, vae = [r["gan"]["fid"] for r in runs], [r["vae"]["fid"] for r in runs]
    out["fid_below_vae"] = {"gan": round(_mean_sd(gan)[0], 2), "gan_sd": round(_mean_sd(gan)[1], 2),
                            "vae": round(_mean_sd(vae)[0], 2), "vae_sd": round(_mean_sd(vae)[1], 2),
                            "met": all(g < v for g, v in zip(gan, vae))}
    return out


def previous_runs(args):
    """``--append``: the runs already in ``--out``, the command that made them and their figures, after checking that they
    used the recipe this run uses and that the new seeds are not among them (one line otherwise)."""
    old = json.load(open(args.out))
    recipe = json.loads(json.dumps(gan_recipe(load_dataset("mnist"))))
    for r in old["runs"]:
        if r["gan"]["recipe"] != recipe:
            sys.exit(f"--append: seed {r['seed']} in {args.out} used another GAN recipe; rerun every seed")
        if args.first_seed <= r["seed"] < args.first_seed + args.seeds:
            sys.exit(f"--first-seed: seed {r['seed']} is already in {args.out}")
    return old["runs"], old["config"]["command"], old["figures"]


def job_defaults(args):
    from pyprogen.plotting import plot_samples
    from pyprogen.train import fit

    x, real, clf, info = setup(args.binarise)
    x_vae = _binary(x)  # the VAE of pyprogen compare: Bernoulli likelihood on the binarised images
    form = "binarised at 0.5" if args.binarise else "grey levels"
    runs, command, figures = previous_runs(args) if args.append else ([], None, [args.figure] if args.figure else [])
    here = "python benchmarks/gan_mnist.py " + shlex.join(sys.argv[1:])
    command = f"{command}; then {here}" if command else here
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        row = {"seed": seed}
        for name, recipe, data in (("gan", gan_recipe(load_dataset("mnist")), x), ("vae", VAE, x_vae)):
            t0 = time.process_time()
            set_seed(seed)
            model = build(name, (1, 28, 28), **recipe["model"])
            fit(model, data, seed=seed, progress=False, **recipe["fit"])
            cpu = time.process_time() - t0
            m, fake = metrics(clf, real, model, seed)
            row[name] = {"cpu_s": round(cpu, 1), **m, "recipe": recipe}
            print(f"seed {seed} {name}: {({k: v for k, v in row[name].items() if k not in ('class_counts', 'recipe')})}",
                  flush=True)
            if name == "gan" and seed == args.first_seed and args.figure and not args.append:
                plot_samples(fake[:64], args.figure, title="pyprogen train gan --data mnist (EMA generator)")
        runs.append(row)
        g = runs[0]["gan"]["recipe"]
        note = (f"the GAN is trained as fit(recipe) does for pyprogen train gan --data mnist ({g['fit']['epochs']} "
                f"epochs, batch {g['fit']['batch_size']}, Adam {g['fit']['lr']:g}"
                + (f", {g['fit']['lr_schedule']} lr schedule" if g["fit"].get("lr_schedule") else "")
                + (f", {g['fit']['precision']} precision" if g["fit"].get("precision", "fp32") != "fp32" else "")
                + f", DCGAN nets width {g['model'].get('width', 32)}"
                + (f", dense layers {g['model']['dense']} (generator, critic)" if g["model"].get("dense") else "")
                + f", {g['model'].get('latent_dim', 64)} latents, "
                f"EMA {g['model'].get('ema', 0)}, R1 gamma {g['model'].get('gamma')}) on the images' {form}, "
                f"and scored (EMA generator, 2,000 samples) against the test split's first {N_REAL:,} images in the "
                f"same form; the VAE is compare --data mnist's (latent 32, 10 epochs, batch 128, lr 1e-3, "
                f"trained on the images binarised at 0.5, Bernoulli samples) scored against the same real images; "
                f"targets on the mean over {len(runs)} seed{'s' * (len(runs) > 1)}")
        write_json(args.out, {"config": {"data": f"mnist (shipped subset), {form}", "n_real": N_REAL,
                                         "classifier": {k: v for k, v in info.items() if k != "path"},
                                         "torch_threads": torch.get_num_threads(), "note": note,
                                         "command": command},
                              "runs": runs,
                              "machine": "this 2-core CPU (AMD EPYC, avx512_bf16), two such runs side by side; "
                                         f"CPU-s = training process time, {torch.get_num_threads()} torch "
                                         f"thread{'s' * (torch.get_num_threads() > 1)}",
                              "figures": figures,
                              "targets": targets(runs)})


def job_merge(args):
    """Join ``defaults`` runs written to separate files by processes that ran side by side (disjoint seeds, the
    same recipe): one file with every run, the targets recomputed over all of them, the commands joined."""
    parts = [json.load(open(path)) for path in args.inputs]
    runs = sorted((r for d in parts for r in d["runs"]), key=lambda r: r["seed"])
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        sys.exit(f"merge: seed {next(s for s in seeds if seeds.count(s) > 1)} is in more than one input")
    if any(r["gan"]["recipe"] != runs[0]["gan"]["recipe"] for r in runs):
        sys.exit("merge: the inputs used different GAN recipes")
    config = dict(parts[0]["config"])
    config["command"] = "; ".join(d["config"]["command"] for d in parts) + \
        "; then python benchmarks/gan_mnist.py " + shlex.join(sys.argv[1:])
    config["note"] = config["note"].rsplit("; targets on the mean over", 1)[0] + \
        f"; targets on the mean over {len(runs)} seeds"
    out = {"config": config, "runs": runs, "machine": parts[0]["machine"],
           "figures": [f for d in parts for f in d["figures"]], "targets": targets(runs)}
    if args.thread_check:  # the same seed with another thread count: how far the numbers move with it
        other = json.load(open(args.thread_check))
        (run,) = other["runs"]
        same = next((r for r in runs if r["seed"] == run["seed"]), None)
        if same is None or run["gan"]["recipe"] != same["gan"]["recipe"]:
            sys.exit(f"--thread-check: seed {run['seed']} with this recipe is not among the runs")
        out["thread_check"] = {"threads": other["config"]["torch_threads"], "seed": run["seed"],
                               "command": other["config"]["command"],
                               "gan": {k: run["gan"][k] for k in ("fid", "precision", "recall", "classes_covered",
                                                                   "cpu_s")}}
    write_json(args.out, out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("job", choices=["track", "defaults", "probe", "merge"])
    p.add_argument("inputs", nargs="*", help="merge: the JSON files of defaults runs to join into --out")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--every", type=int, default=2000)
    p.add_argument("--set", nargs="*")
    p.add_argument("--out")
    p.add_argument("--figure")
    p.add_argument("--append", action="store_true", help="defaults: add these seeds to the runs already in --out "
                   "(same recipe checked; the mean over all seeds is recomputed, the figure kept)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the recorded runs use 1)")
    p.add_argument("--thread-check", help="merge: a defaults file of one seed trained with another thread count; "
                   "its scores are kept beside the runs as thread_check")
    p.add_argument("--load", help="probe: a state_dict saved by track --save")
    p.add_argument("--save", help="track: save the last model's state_dict here")
    p.add_argument("--binarise", action="store_true",
                   help="train on and score against the images binarised at 0.5 (as pyprogen compare does) "
                        "instead of the grey levels pyprogen train gan --data mnist trains on")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"track": job_track, "defaults": job_defaults, "probe": job_probe, "merge": job_merge}[args.job](args)


if __name__ == "__main__":
    main()
