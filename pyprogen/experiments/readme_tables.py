"""The renderers behind README's results blocks (see readme.py): one per ``docs/results/NAME.json``.

Each takes the JSON a committed command wrote and returns the Markdown the README shows, with the
command under it, so a README number is always a function of a committed output.
"""
from .readme import RESULT_TABLES, command_line, fmt, mean_sd, table  # noqa: F401


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


@RESULT_TABLES.register("flow_guides")
def _flow_guides(d):
    c = d["config"]
    rows = []
    for name, m in d["models"].items():
        kw = m["model_kwargs"]
        rows.append([f"guide={kw['guide']}, prior={kw['prior']}", fmt(m["parameters"]), fmt(m["epochs"]),
                     mean_sd(-m["test_elbo_nats"], m["test_elbo_stderr"]), mean_sd(m["test_nll_nats"], m["test_nll_stderr"])])
    out = [table(["VAE", "parameters", "epochs", "−ELBO (nats)", "NLL, IWAE bound (nats)"], rows), ""]
    diag = [(n, m["diagnostics"]) for n, m in d["models"].items() if "diagnostics" in m]
    if diag:
        out += [table(["guide", "log p(x) − ELBO", "approximation gap", "amortisation gap", "median k̂",
                       "k̂ > 0.7", "max r̂"],
                      [[n, fmt(g["gap_nats"]), fmt(g["approximation_gap_nats"]), fmt(g["amortisation_gap_nats"]),
                        fmt(g["k_hat_median"]), f"{100 * g['k_hat_fractions']['bad']:.0f} %", fmt(g["rhat_max"], 3)]
                       for n, g in diag]), ""]
        cfg = diag[0][1]["config"]
        out.append(f"Diagnostics (`pyprogen.diagnostics.check`) on {cfg['points']} test points: NUTS "
                   f"{cfg['num_chains']} chains × {cfg['num_samples']} draws after {cfg['warmup_steps']} warm-up, "
                   f"{cfg['num_particles']} importance particles, {cfg['local_steps']} Adam steps per point for the "
                   "per-point guide (Cremer et al. 2018).")
    out.append(f"{c['architecture']}; {c['data']}; batch {c['batch_size']}, lr {c['lr']}; {c['budget']}; "
               f"NLL and ELBO on {d['models']['diagonal']['test_points']:,} test images with "
               f"{d['models']['diagonal']['eval_particles']:,} particles (± standard error over points). Paper anchor: "
               f"VampPrior {c['paper_anchors']['vamp_prior_nll_nats']} nats ({c['paper_anchors']['vamp_prior_source']}).")
    out.append(_source(c["command"], {"machine": c["machine"]}))
    return "\n".join(out)


@RESULT_TABLES.register("fit_overhead")
def _fit_overhead(d):
    runs = [(k, v) for k, v in d["ratios"].items()]
    steps = [[k, f"{v['cpu_ms']:.2f}", f"{v['ratio']:.2f}×"] for k, v in d["per_step"].items()]
    return "\n".join([
        table(["run / reference", "CPU ratio", "wall ratio"], [[k, f"{v['cpu']:.2f}×", f"{v['wall']:.2f}×"] for k, v in runs]),
        "", table(["per step", "CPU ms", "ratio"], steps), "",
        f"MLP VAE 784-200-200-50, batch {d['batch']}, {d['points']:,} points per epoch, {d['threads']} torch thread, "
        f"{d['rounds']} alternating rounds, medians.",
        _source("python benchmarks/fit_overhead.py --rounds 5 --long-epochs 5 --breakdown "
                "--out docs/results/fit_overhead.json", d)])


@RESULT_TABLES.register("compile_paths")
def _compile_paths(d):
    rows = []
    for name, s in d["per_step"].items():
        st = d["startup"][name]
        rows.append([name, f"{s['ratio']:.2f}×", f"{st['first model']['cpu_s']:.2f}", f"{st['second model']['cpu_s']:.2f}",
                     "yes" if any("Deprecat" in w for w in st["warnings"]) else "no",
                     f"{d['loss_rel_diff'][name]:.0e}"])
    return "\n".join([table(["path", "per step vs hand-written", "start-up, first model (CPU s)",
                             "second model (CPU s)", "deprecation warning", "loss rel. diff"], rows), "",
                      _source("python benchmarks/compile_paths.py --rounds 7 --steps 40 "
                              "--out docs/results/compile_paths.json", d)])


@RESULT_TABLES.register("adversarial_overhead")
def _adversarial_overhead(d):
    refs = list(d["per_step"])[:2]
    rows = [[k, f"{v['cpu_ms']:.1f}"] + [f"{v[f'ratio to {r}']:.2f}×" for r in refs] for k, v in d["per_step"].items()]
    return "\n".join([table(["one gan-dp step (DCGAN nets, MNIST)", "CPU ms"] + [f"vs {r}" for r in refs], rows), "",
                      _source(f"python benchmarks/adversarial_overhead.py --rounds {d['rounds']} --steps {d['steps']} "
                              "--out docs/results/adversarial_overhead.json", d)])


@RESULT_TABLES.register("stability")
def _stability(d):
    from .stability_report import stability_table  # the study's own Markdown, from its JSON

    machine = d.get("machine") or f"{d['config'].get('torch_threads', 'default')} torch threads"
    return stability_table(d).rstrip() + "\n\n" + _source("pyprogen stability --out OUT --no-progress",
                                                          {"machine": machine})


@RESULT_TABLES.register("compare")
def _compare(d):
    from .compare_report import compare_table  # compare's own Markdown, from its JSON

    cfg = d["config"]
    return compare_table(d).rstrip() + "\n\n" + _source(cfg.get("command") or "pyprogen compare --publish",
                                                        {"machine": cfg.get("machine")})
