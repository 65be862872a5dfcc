"""The renderers behind README's results blocks (see readme.py): one per ``docs/results/NAME.json``.

Each takes the JSON a committed command wrote and returns the Markdown the README shows, with the
command under it, so a README number is always a function of a committed output.
"""
import statistics

from ..models.gan import per_net
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


@RESULT_TABLES.register("pixelcnn_gated_mnist")
@RESULT_TABLES.register("pixelcnn_gated_mnist_fp32")
def _pixelcnn_gated(d):
    """benchmarks/pixelcnn_mnist.py --gated: the gated PixelCNN at a CPU budget, exact NLL on the full test set."""
    c = d["config"]
    flags = " ".join(f for f, on in (("--gated", c["gated"]), ("--cosine", c.get("cosine")), ("--bf16", c.get("bf16")))
                     if on)
    command = d.get("command") or (f"OMP_NUM_THREADS={c['threads']} python benchmarks/pixelcnn_mnist.py {flags} "
                                   f"--channels {c['channels']} --depth {c['depth']} --minutes {c['minutes']:g} --out OUT")
    precision = "bf16 autocast" if c.get("bf16") else "fp32"
    rows = [[f"pixelcnn (gated), {c['depth']} blocks × {c['channels']} channels", fmt(d["parameters"]),
             f"{d['train_cpu_minutes']:.1f} CPU-min ({d['epochs']:.2f} epochs, batch {c['batch_size']}, "
             f"Adam {c['lr']:g}, {precision})",
             fmt(d["test_nll_nats"], 1) + (f" ± {d['test_nll_stderr']:.1f}" if d.get("test_nll_stderr") else ""),
             fmt(d["test_bits_per_dim"], 3)]]
    ref = "; ".join(f"{k} {v:.2f}" for k, v in d["reference_nats"].items())
    images = d.get("test_images", 10000)
    out = [table(["model", "parameters", "training", f"test NLL (nats, exact, {images:,} images)", "bits/dim"], rows), ""]
    for path in d.get("figures", []):
        out += [f"![{path.rsplit('/', 1)[-1][:-4]}]({path})", ""]
    notes = [f"Adam {c['lr']:g}{', cosine to 0 over the CPU budget' if c.get('cosine') else ''}; maximum likelihood "
             f"with Pyro's SVI (empty guide)."]
    if c.get("bf16"):
        notes.append("Convolutions ran under `torch.autocast(\"cpu\", dtype=torch.bfloat16)`; weights, optimiser, "
                     "loss and the test NLL are fp32 (the test NLL is the exact fp32 likelihood of the saved net).")
    if d.get("valid_nll_nats") is not None:
        notes.append(f"Validation NLL ({d['valid_images']:,} evenly spaced validation images): "
                     f"{fmt(d['valid_nll_nats'], 1)} nats.")
    if d.get("test_nll_stderr"):
        notes.append("± is the standard error over test images.")
    if d.get("chosen_over"):
        alt = d["chosen_over"]
        notes.append(f"Kept over a second run at the same budget by validation NLL ({fmt(alt['valid_nll_nats'], 1)} "
                     f"there; its test NLL {fmt(alt['test_nll_nats'], 1)}): `{alt['command']}`.")
    notes.append(f"Target ≤ 85 nats; van den Oord et al. (2016, binarized MNIST, trained to convergence): {ref}.")
    t = d.get("thread_check")
    if t:
        same = round(t["test_nll_nats_2_threads"], 1) == round(d["test_nll_nats"], 1)
        notes.append(f"Threads: the saved net scored with 2 torch threads gives {'the same' if same else 'a different'} "
                     f"test NLL ({t['test_nll_nats_2_threads']:.1f}); training was {t['training']}.")
    else:
        notes.append(f"Threads: {_thread_note(d)}.")
    out += [" ".join(notes), _source(command, {"machine": d.get("machine")})]
    return "\n".join(out)


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
                   f"per-point optimum q* (Cremer et al. 2018; its family: "
                   f"{cfg.get('local_family', 'mean-field Gaussian per point')}).")
    out.append(f"{c['architecture']}; {c['data']}; batch {c['batch_size']}, lr {c['lr']}; {c['budget']}; "
               f"NLL and ELBO on {d['models']['diagonal']['test_points']:,} test images"
               f"{' (' + c['test_rows'] + ')' if c.get('test_rows') else ''} with "
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
    """compare.json: ``command``/``machine`` at the top level, everything else under ``config``."""
    from .compare_report import compare_table  # compare's own Markdown, from its JSON

    c = d["config"]
    lines = compare_table(d).rstrip().split("\n")
    rows = next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
    out = [*lines[:rows], "", *lines[rows:], ""]  # a blank line: the note is no table row
    if c.get("sample_metrics_on"):
        out.append(f"Sample metrics are computed on {c['sample_metrics_on']}.")
    if c.get("thread_check"):
        out.append(f"Threads: {c['thread_check']}." + (f" Why: {c['reproducibility']}." if c.get("reproducibility") else ""))
    figures = c.get("figures") or {}
    captions = {
        "samples": "Samples, seed 0: the **mean image E[x|z]** (z ~ p(z)) for the VAE family and the WAEs, not "
                   "Bernoulli draws; G(z) for the GANs; Bernoulli draws for PixelCNN (it has no latent to average over).",
        "reconstructions": "Reconstructions: test inputs (top row) and each encoder model's mean image "
                           "E[x | z = mean of q(z|x)] below.",
        "interpolations": "Interpolations: mean images E[x|z] along the straight line between the codes of two test "
                          "images (between two prior draws for the GANs).",
        "traversals": "Latent traversals (Higgins et al. 2017): mean images E[x|z], each row varies one latent "
                      "(most active first) over [−3, 3].",
    }
    for key in ("samples", "reconstructions", "interpolations", "traversals"):
        if key in figures:
            out += ["", f"![compare {key}]({figures[key]})", "", f"*{captions[key]}*"]
    total = f" ({d['config']['cpu_seconds']:.0f} CPU-s in all)" if c.get("cpu_seconds") is not None else ""
    out += ["", _source(d.get("command") or "pyprogen compare", {"machine": (d.get("machine") or "") + total})]
    return "\n".join(out)


def _pct(value, digits=1):
    return f"{value:.{digits}f}"


@RESULT_TABLES.register("m2_mnist")
def _m2_mnist(d):
    """benchmarks/m2_mnist.py: one row per (classifier, labels) run, error rates in % to one decimal (the runs
    are budgeted in CPU time, so the step count and the last digits depend on the machine)."""
    paper = {int(k): v for k, v in d["paper_error_percent"].items()}
    rows = []
    for r in d["runs"]:
        rows.append([fmt(r["labels"]), r["classifier"], fmt(r["unlabelled"]), _pct(r["test_error_percent"]),
                     _pct(100 - 100 * r["supervised_baseline_accuracy"]), _pct(paper[r["labels"]], 2),
                     f"{r['train_cpu_minutes']:.0f} CPU-min ({r['steps']:,} steps)"])
    flat = [f"{r['classifier']} q(y|x) at {r['labels']:,} labels" for r in d["runs"]
            if (100 - 100 * r["supervised_baseline_accuracy"]) - r["test_error_percent"] < 0.5]
    data = sorted({r["data"] for r in d["runs"]})
    test = sorted({r["test_images"] for r in d["runs"]})
    cmds = [f"`python benchmarks/m2_mnist.py --labels {' '.join(map(str, c['labels']))} --classifier "
            f"{' '.join(c['classifier'])} --minutes {c['minutes']:g} --jobs {c['jobs']} --out docs/results/m2_mnist.json`"
            for c in d["configs"]]
    return "\n".join([
        table(["labels", "q(y\\|x)", "unlabelled images", "M2 test error (%)", "same q(y\\|x) on the labels alone (%)",
               "paper M2 error (%)", "training"], rows), "",
        f"Data: {', '.join(data)}, binarised at 0.5; test error on {', '.join(f'{t:,}' for t in test)} test images. "
        "Paper: Kingma et al. 2014, Table 1 (M2, full MNIST: 50,000 training images, MLP q(y|x), long training). "
        "Caveat: our unlabelled pool is the shipped 10,000-image subset, not 50,000 images, and the runs are "
        "budgeted in CPU time (the step count depends on the machine), so only one decimal is shown and no thread "
        "check is recorded."
        + (f" The unlabelled images gain less than half a point over the labels alone for the {' and the '.join(flat)}."
           if flat else ""),
        f"*Source: {_commands(d, None) if d.get('commands') or d.get('command') else '; then '.join(cmds)} → "
        "`docs/results/…json`; one torch thread per run.*"])


DISENTANGLEMENT = [("MIG", "mig"), ("β-VAE score", "beta_vae"), ("FactorVAE score", "factor_vae"), ("SAP", "sap"),
                   ("DCI disent.", "dci_disentanglement"), ("DCI compl.", "dci_completeness"),
                   ("DCI inform.", "dci_informativeness"), ("active units", "active_units")]


@RESULT_TABLES.register("disentanglement")
def _disentanglement(d):
    """benchmarks/disentanglement.py: mean ± sd over seeds, two decimals (each run: fixed seed, one thread)."""
    c = d["config"]
    default = (f"python benchmarks/disentanglement.py --seeds {' '.join(map(str, c['seeds']))} --epochs {c['epochs']} "
               f"--width {c['width']} --jobs {c['jobs']} --out docs/results/disentanglement.json")
    hyper = {r["model"]: ", ".join(f"{k} = {v:g}" for k, v in r["hyperparameters"].items()) for r in d["runs"]}
    cpu = {m: sum(r["train_cpu_minutes"] for r in d["runs"] if r["model"] == m) for m in d["summary"]}
    rows = [[m, hyper.get(m, ""), *(mean_sd(s[k], s.get(f"{k}_sd"), 2 if k != "active_units" else 1)
                                   for _, k in DISENTANGLEMENT), f"{cpu[m]:.1f}"]
            for m, s in d["summary"].items()]
    return "\n".join([
        table(["model", "weights", *(h for h, _ in DISENTANGLEMENT), "train CPU-min (all seeds)"], rows), "",
        f"Mean ± sd over seeds {', '.join(map(str, c['seeds']))}; {c['epochs']} epochs, conv VAE at width "
        f"{c['width']}, 10 latents. Published: {d['published']}",
        f"*Source: {_commands(d, default)} → `docs/results/…json`; one torch thread per run (no run with 2 threads "
        "recorded).*"])


def _commands(d, default):
    """The JSON's own ``commands`` (or ``command``), in backticks, joined by "then"; else ``default``."""
    cmds = d.get("commands") or ([d["command"]] if d.get("command") else [default])
    return "; then ".join(f"`{c}`" for c in cmds)


@RESULT_TABLES.register("vq_vae_mnist")
def _vq_vae(d):
    """benchmarks/vq_vae_mnist.py: the two-stage model's bound with the uniform and the PixelCNN code prior."""
    c = d["config"]
    default = (f"python benchmarks/vq_vae_mnist.py --epochs {c['epochs']} --prior-epochs {c['prior_epochs']} "
               "--out docs/results/vq_vae_mnist.json")
    rows = [[name, f"{r['reconstruction_nats']:.2f}", f"{100 * r['pixel_error_rate']:.2f}", f"{r['prior_nats']:.2f}",
             f"{r['bound_nats']:.2f}", f"{r['bits_per_dim']:.3f}"]
            for name, r in (("uniform", d["uniform_prior"]), ("PixelCNN (trained second)", d["pixelcnn_prior"]))]
    return "\n".join([
        table(["code prior", "−log p(x \\| z_q) (nats)", "pixels wrong (%)", "−log p(codes) (nats)",
               "bound on −log p(x) (nats)", "bits/dim"], rows), "",
        f"VQ-VAE, {c['num_codes']} codes of dimension {c['code_dim']} ({d['codes_used']} in use) on a 7x7 grid, "
        f"conv width {c['width']}, {c['epochs']} epochs; PixelCNN prior ({c['prior_depth']} layers, "
        f"{c['prior_channels']} channels), {c['prior_epochs']} epochs; {d['data']}, all {d['test_images']:,} test images; "
        f"{d['total_cpu_minutes']:.1f} CPU-min in all. van den Oord et al. (2017) report no binarized-MNIST "
        "likelihood (their bound is for CIFAR-10).",
        f"*Source: {_commands(d, default)} → `docs/results/…json`; one torch thread (no run with 2 threads "
        "recorded).*"])


def _thread_note(d):
    """What the result's ``thread_check`` (a rerun with other torch threads) found, or that there is none."""
    t = d.get("thread_check")
    if t is None:
        return "no run with 2 threads recorded"
    if "epochs_compared" in t:  # vae_long.py: the first epochs of the curve
        same = "identical" if t["identical_epochs"] == t["epochs_compared"] else (
            f"identical in {t['identical_epochs']} of them (largest difference {t['max_abs_diff_train_loss']:.3f} "
            f"nats in the training loss)")
        return (f"with {t['threads']} threads the first {t['epochs_compared']} epochs' training loss and validation "
                f"ELBO (3 decimals) are {same}: `{t['command']}`")
    verdict = "the same to the digits shown" if t["identical_at_digits_shown"] else (
        f"not the same: NLL {t['nll_nats']:.1f}, −ELBO {-t['elbo_nats']:.1f}")
    return f"with {t['threads']} threads the numbers are {verdict}: `{t['command']}`"


@RESULT_TABLES.register("vae_recipe")
def _vae_recipe(d):
    """benchmarks/vae_recipe.py --results: what ``pyprogen train vae --data binarized-mnist --epochs N`` reaches."""
    return "\n".join([
        table(["command it measures", "recipe", "test NLL (nats)", "test −ELBO (nats)", "CPU-s (train + eval)"],
              [[f"`pyprogen train {d['model']} --data binarized-mnist --epochs {d['epochs']}`", d["recipe"],
                f"{d['nll_nats']:.1f}", f"{-d['elbo_nats']:.1f}", f"{d['total_cpu_s']:.0f}"]]), "",
        f"NLL: {d['eval']}; one torch thread ({_thread_note(d)}).",
        _source(d["command"], d)])


@RESULT_TABLES.register("vae_long_120")
@RESULT_TABLES.register("vae_long")
def _vae_long(d):
    """benchmarks/vae_long.py: the VAE at its best within a CPU budget (IWAE runs: see _iwae_equal_compute)."""
    a = d["paper_anchors"]
    stop = f" of {d['epochs_planned']} planned (stopped early)" if d["stopped_by_budget"] else ""
    rows = [[f"vae, {'x'.join(map(str, d['hidden']))} {d['activation']}, {d['latent_dim']} latents",
             fmt(d["parameters"]), f"{d['train_cpu_seconds'] / 60:.1f} CPU-min, {d['epochs_trained']} epochs{stop}; "
             f"kept epoch {d['epoch_kept']}", fmt(d["test_points"]), fmt(d["eval_particles"]),
             f"{d['test_nll_nats']:.1f} ± {d['test_nll_stderr']:.1f}", f"{-d['test_elbo_nats']:.1f}"]]
    warmup = f"KL warm-up over {d['kl_warmup_updates']:,} updates" if d["kl_warmup_updates"] else "no KL warm-up"
    anchors = (f"Target ≤ {a['target_nats']} nats; pythae's reproduced VAE {a['pythae_vae_nats']}, Burda et al. (2016) "
               f"VAE {a['burda_vae_k1_nats']} (3,280 passes, dynamic binarisation)")
    return "\n".join([
        table(["model", "parameters", "training", "test images", "particles", "test NLL, IWAE bound (nats)",
               "test −ELBO (nats)"], rows), "",
        f"Batch {d['batch_size']}, Adam {d['lr']:g}, {d['lr_schedule']}, {warmup}; parameters kept at the best "
        f"validation ELBO (Larochelle validation split). {anchors}. ± is the standard error over test images; "
        f"evaluation {d['eval_cpu_seconds'] / 60:.0f} CPU-min; one torch thread ({_thread_note(d)}).",
        _source(d["command"], d)])


@RESULT_TABLES.register("iwae_equal_compute")
def _iwae_equal_compute(d):
    """benchmarks/iwae_equal_compute.py: the VAE and IWAE k = 5, 10, 50 runs side by side, which k wins."""
    a = d["paper_anchors"]
    rows = [[r["loss"], fmt(r["k"]), f"{r['train_cpu_minutes']:.1f}", fmt(r["epochs_trained"]),
             f"{100 * r['passes_share_of_burda']:.1f} %", f"{r['test_nll_nats']:.1f} ± {r['test_nll_stderr']:.1f}",
             f"{-r['test_elbo_nats']:.1f}"] for r in d["rows"]]
    best = d["best_iwae_k"]
    verdict = (f"beats the VAE by {d['vae_minus_best_iwae_nats']:.1f} nats ({d['vae_minus_best_iwae_in_combined_se']:.1f} "
               f"combined standard errors)" if d["best_iwae_beats_vae"] else
               f"does not beat the VAE by more than two combined standard errors (VAE − IWAE = "
               f"{d['vae_minus_best_iwae_nats']:.1f} nats, {d['vae_minus_best_iwae_in_combined_se']:.1f} SE)")
    return "\n".join([
        table(["training loss", "samples decoded per image and pass", "train CPU-min", "epochs", "share of Burda's 3,280 passes",
               "test NLL (nats, 5,000 particles)", "test −ELBO (nats)"], rows), "",
        f"Lowest test NLL among the IWAE runs: k = {best} ({d['best_iwae_nll_nats']:.1f} nats); it {verdict}. "
        f"IWAE k ordered by test NLL: {', '.join(map(str, d['order_by_nll']))}. {d['note'][0].upper()}{d['note'][1:]}. "
        f"Published: Burda et al. (2016) VAE {a['burda_vae_k1_nats']}, IWAE k = 50 {a['burda_iwae_k50_nats']} after "
        f"{a['burda_passes']:,} passes (each IWAE pass decodes k samples per image, so k = 50 there is "
        f"{a['burda_passes'] * 50:,} decodes per image); pythae's reproduced IWAE-50 {a['pythae_iwae_k50_nats']}.",
        _iwae_threads(d["rows"]), _source(d["command"], d)])


def _iwae_threads(rows):
    """One sentence on each run's thread check (the first epochs rerun with 2 threads), or which runs have none."""
    checked = [r["thread_check"] | {"loss": r["loss"]} for r in rows if r.get("thread_check")]
    if not checked:
        return "Threads: no run with 2 threads recorded."
    all_same = all(t["identical_epochs"] == t["epochs_compared"] for t in checked)
    parts = ", ".join(f"{t['loss']} {t['identical_epochs']} of {t['epochs_compared']}" for t in checked)
    missing = [r["loss"] for r in rows if not r.get("thread_check")]
    return (f"Threads: rerun with {checked[0]['threads']} torch threads, the first epochs' training loss and validation "
            f"bound {'are identical' if all_same else 'differ in some epochs'} (epochs identical of those compared: "
            f"{parts}); the full runs and their evaluations were not repeated."
            + (f" No thread check for: {', '.join(missing)}." if missing else ""))


@RESULT_TABLES.register("gan_modes_defaults")
def _gan_modes_defaults(d):
    """benchmarks/gan_modes.py defaults: what ``pyprogen train gan --data ring8|grid25`` reaches with its defaults."""
    c = d["config"]
    rows = [[f"`pyprogen train gan --data {s['data']}`", fmt(s["seeds"]), mean_sd(float(s["modes_mean"]), s["modes_sd"], 1),
             mean_sd(s["hq_percent_mean"], s["hq_percent_sd"], 1), f"{s['cpu_s_mean']:.0f} (max {s['cpu_s_max']:.0f})"]
            for s in d["summary"]]
    rows += [[f"{p['method']} on {p['data']} ({p['source']})", "", fmt(float(p["modes"]), 1),
              fmt(float(p["hq_percent"]), 1), ""]
             for p in d.get("published", [])]
    out = [table(["run", "seeds", "modes covered", "high-quality samples (%)", "CPU-s per run"], rows), ""]
    for path in d.get("figures", []):
        out += [f"![{path.rsplit('/', 1)[-1][:-4]}]({path})", ""]
    out.append(f"Each run: {c['each_run']}; mean ± sd over seeds.")
    out.append(f"*Source: `{c['command']}` → `docs/results/…json`; {d['machine']} (no run with 2 threads recorded).*")
    return "\n".join(out)


@RESULT_TABLES.register("hierarchical_vae_mnist")
def _hierarchical_vae(d):
    """benchmarks/hierarchical_vae_mnist.py: Burda et al.'s two-stochastic-layer VAE and its IWAE at one CPU budget."""
    c = d["config"]
    rows = [[f"hierarchical-vae, {m['estimator']}", fmt(m["epochs"]), f"{m['train_cpu_minutes']:.1f}",
             fmt(-m["test_elbo_nats"], 1), mean_sd(m["test_nll_nats"], m["test_nll_stderr"], 1),
             fmt(m["published_nll_nats"], 2)] for m in d["models"].values()]
    return "\n".join([
        table(["model", "epochs", "train CPU-min", "−ELBO (nats)", "test NLL (nats, ± s.e.)",
               "Burda et al. 2016 (nats)"], rows), "",
        f"{d['architecture']}; {d['data']}; batch {c['batch_size']}, Adam {c['lr']:g}; NLL by importance sampling "
        f"with {c['eval_particles']:,} particles. Published: {d['published']}. Caveat: {d['caveat']}.",
        command_line(d)])


@RESULT_TABLES.register("gan_mnist")
def _gan_mnist(d):
    """benchmarks/gan_mnist.py defaults: the MNIST GAN recipe against a VAE, in one classifier's features."""
    c = d["config"]
    rows = []
    for r in d["runs"]:
        for name in ("gan", "vae"):
            m = r[name]
            rows.append([f"{name} (seed {r['seed']})", fmt(m["fid"], 1), fmt(m["precision"], 3), fmt(m["recall"], 3),
                         fmt(m["classes_covered"]), f"{m['cpu_s']:.0f}"])
    if len(d["runs"]) > 1:  # mean ± sd over seeds (sample sd), computed here from the per-seed rows above
        def ms(name, key, digits):
            v = [r[name][key] for r in d["runs"]]
            return mean_sd(statistics.fmean(v), statistics.stdev(v), digits)

        for name in ("gan", "vae"):
            rows.append([f"**{name}, mean ± sd over {len(d['runs'])} seeds**", ms(name, "fid", 1),
                         ms(name, "precision", 3), ms(name, "recall", 3), ms(name, "classes_covered", 1),
                         ms(name, "cpu_s", 0)])
    t = d.get("targets", {})
    met = "; ".join(f"{k} {'met' if v['met'] else 'not met'}" + (f" (target {v['target']})" if "target" in v else "")
                    for k, v in t.items())
    out = [table(["model", "FD (features)", "precision", "recall", "classes", "train CPU-s"], rows), ""]
    for path in d.get("figures", []):
        out += [f"![{path.rsplit('/', 1)[-1][:-4]}]({path})", ""]
    out.append(f"{c['note'][0].upper()}{c['note'][1:]}; {c['n_real']:,} real images, features of a classifier with "
               f"test accuracy {c['classifier']['test_accuracy']:.3f}. Targets: {met}.")
    tc = d.get("thread_check")
    if tc:  # one seed again with another thread count (benchmarks/gan_mnist.py merge --thread-check)
        one, two = next(r for r in d["runs"] if r["seed"] == tc["seed"])["gan"], tc["gan"]
        pair = ", ".join(f"{name} {fmt(two[k], digits)} (1 thread: {fmt(one[k], digits)})" for name, k, digits in (
            ("FD", "fid", 1), ("precision", "precision", 3), ("recall", "recall", 3), ("classes", "classes_covered", None),
            ("training CPU-s, summed over threads", "cpu_s", 0)))
        out.append(f"Seed {tc['seed']} trained again with {tc['threads']} torch threads (`{tc['command']}`): {pair}. "
                   f"Training is not bitwise equal across thread counts; compare with the spread over seeds (mean ± sd row).")
    out.append(f"*Source: `{c['command']}` → `docs/results/…json`; {d['machine']}"
               + ("" if tc else " (no run with 2 threads recorded)") + ".*")
    return "\n".join(out)


@RESULT_TABLES.register("gan_mnist_arch")
def _gan_mnist_arch(d):
    """benchmarks/gan_mnist.py track: the MNIST GAN's dense layers and learning rate varied one at a time, the EMA
    generator scored as it trains."""
    rows = []
    for r in d["runs"]:
        dense = per_net(r["model"].get("dense", 0), "dense", minimum=0)
        for t in r["track"]:
            m = t["ema"]
            rows.append([f"({dense[0]}, {dense[1]})", f"{r['fit']['lr']:g}", f"{t['step']:,}", f"{t['cpu_s']:.0f}",
                         f"{1000 * t['cpu_s'] / t['step']:.0f}", fmt(m["fid"], 1), fmt(m["precision"], 3),
                         fmt(m["recall"], 3), fmt(m["classes_covered"])])
    r0 = d["runs"][0]
    return "\n".join([
        table(["dense (generator, critic)", "Adam lr", "generator steps", "CPU-s", "ms/step", "FD (features)",
               "precision", "recall", "classes"], rows), "",
        f"Seed {r0['seed']}, batch {r0['fit']['batch_size']}, {r0['fit']['precision']}, width {r0['model']['width']}, "
        f"{r0['model']['latent_dim']} latents, EMA {r0['model']['ema']}, R1 γ = {r0['model']['gamma']:g}; both "
        f"learning rates decayed to 0 by a cosine over {r0['decay_steps']:,} steps; 2,000 samples of the EMA "
        f"generator against 2,000 test images.",
        _source("; ".join(d["commands"]), d)])


@RESULT_TABLES.register("gan_mnist_probe")
def _gan_mnist_probe(d):
    """benchmarks/gan_mnist.py probe: what the sampler alone (not training) changes for one saved MNIST GAN."""
    rows = [[name, fmt(v["fid"], 1), fmt(v["precision"], 3), fmt(v["recall"], 3), fmt(v["classes_covered"])]
            for name, v in d["variants"].items()]
    c, m = d["critic_logit"], d["model"]
    return "\n".join([
        table(["sampler", "FD (features)", "precision", "recall", "classes"], rows), "",
        f"The critic's logit: {c['real_mean']:.2f} ± {c['real_sd']:.2f} on real test images, {c['generated_mean']:.2f} "
        f"± {c['generated_sd']:.2f} on generated ones (mean ± sd). Model: `{m['command']}` (seed {m.get('seed', 'n/a')}).",
        _source(d["command"], {"machine": "this 2-core CPU, shared with parallel jobs, one torch thread"})])


@RESULT_TABLES.register("gan_loss_table")
def _gan_loss_table(d):
    """benchmarks/gan_modes.py table: every registry loss x {plain, +EMA, +SN} at one generator-step budget."""
    c = d["config"]
    cells = {(s["data"], s["loss"], s["variant"]): s for s in d["summary"]}
    datas = sorted({s["data"] for s in d["summary"]}, key=lambda n: (n != "ring8", n))
    variants = [v for v in c["variants"] if any(k[2] == v for k in cells)]
    losses = sorted({s["loss"] for s in d["summary"]})
    header = ["loss"] + [f"{data} {v}" for data in datas for v in variants]

    def cell(s):
        return "–" if s is None else f"{s['modes_mean']:.0f} / {s['hq_percent_mean']:.0f} %"

    rows = [[f"`{loss}`"] + [cell(cells.get((data, loss, v))) for data in datas for v in variants] for loss in losses]
    base = ", ".join(f"{data} {c['lr'][data]['gan-dp']:g}" for data in datas)
    papers = ", ".join(f"{k} {v:g}" for k, v in c["lr"][datas[0]].items() if k.startswith("wgan"))
    h = c["nets"]["hidden"]
    return "\n".join([
        table(header, rows), "",
        f"Modes covered / high-quality share of 2,500 samples after {c['steps']:,} generator steps ({c['seeds']} seed), "
        f"batch {c['batch_size']}, the recipe's nets (G {c['nets']['latent_dim']}→{len(h)}×{h[0]}→2, "
        f"D 2→{len(h)}×{h[0]}→1, LeakyReLU; standardised data), γ = {c['gamma']:g} for gan-dp and r2, constant "
        f"Adam lr ({base}; the papers' rates for {papers}); +EMA: generator average 0.999, the EMA generator scored; "
        f"+SN: spectral norm on every critic layer. A short budget on purpose (the default command runs 39,975 steps "
        f"with a decaying lr): it ranks how fast each loss and stabiliser finds the modes, not where they end.",
        _source(c["command"], d)])
