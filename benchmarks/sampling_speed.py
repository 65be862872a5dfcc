"""Time to sample 64 binarized 28x28 images: the naive loop vs the cached sampler, side by side.

The naive loop runs the whole network once per pixel (784 passes); the cached sampler (Fast
PixelCNN++ idea, Ramachandran et al. 2017) computes every activation once. Both are seeded the
same way and must give the same images; the script reports the speed-up (wall clock and this process's
CPU time, which a shared machine disturbs less) and any differing pixels.
Weights are the seeded initial ones (speed does not depend on them).

    python benchmarks/sampling_speed.py --threads 1
    python benchmarks/sampling_speed.py --models pixelcnn --n 64 --out /tmp/sampling.json
"""
import argparse
import time

import torch

from pyprogen.io import write_json
from pyprogen.models import build
from pyprogen.seeding import set_seed

MODELS = {
    "pixelcnn": ("pixelcnn", {}),
    "gated-pixelcnn": ("pixelcnn", {"gated": True}),
    "pixelrnn": ("pixelrnn", {}),
}


def time_pair(model, n, seed):
    """Seconds for the naive and the cached sampler on the same seed, and the images from each."""
    out = {}
    for method in ("naive", "cached"):
        set_seed(seed)
        t0, c0 = time.perf_counter(), time.process_time()
        images = model.draw(n, method)
        out[method] = (images, time.perf_counter() - t0, time.process_time() - c0)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="pixelcnn,gated-pixelcnn,pixelrnn", help=f"comma list of {sorted(MODELS)}")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON file for the timings")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    for key in a.models.split(","):
        name, kw = MODELS[key]
        set_seed(a.seed)
        model = build(name, (1, a.size, a.size), likelihood="bernoulli", channels=a.channels, **kw)
        res = time_pair(model, a.n, a.seed)
        (naive, t_naive, c_naive), (cached, t_cached, c_cached) = res["naive"], res["cached"]
        row = {"model": key, "config": model.config, "n": a.n, "naive_seconds": t_naive, "cached_seconds": t_cached,
               "naive_cpu_seconds": c_naive, "cached_cpu_seconds": c_cached, "speedup": t_naive / t_cached,
               "cpu_speedup": c_naive / c_cached, "differing_pixels": int((naive != cached).sum()),
               "pixels": naive.numel()}
        rows.append(row)
        print(f"{key:15s} {a.n} images {a.size}x{a.size}: naive {t_naive:7.2f} s ({c_naive:.2f} CPU s), cached "
              f"{t_cached:6.2f} s ({c_cached:.2f} CPU s), speed-up {row['speedup']:.1f}x wall, "
              f"{row['cpu_speedup']:.1f}x CPU; differing pixels {row['differing_pixels']}/{row['pixels']}", flush=True)
    if a.out:
        write_json(a.out, {"threads": a.threads, "results": rows})
    return rows


if __name__ == "__main__":
    main()
