"""Starting ``N`` training processes: through torchrun, or from Python for tests and benchmarks.

- :func:`relaunch`: ``pyprogen train ... --nproc N`` runs ``python -m torch.distributed.run
  --standalone --nproc-per-node N -m pyprogen train ...`` (the same command without
  ``--nproc``), i.e. exactly what a user would type; torchrun's elastic agent sets ``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``, picks a free port for the
  single-node rendezvous, and stops every worker when one fails. With ``--max-restarts R`` the
  agent restarts the whole group up to ``R`` times instead, and the restarted workers resume
  from the run's last checkpoint by themselves (preemption.py). SIGTERM/SIGUSR1 sent to the
  ``pyprogen`` process are passed on to torchrun as SIGTERM, which stops its workers the same way
  (each checkpoints at the step boundary and exits with 143). Multi-node runs call torchrun
  directly with ``--nnodes``/``--rdzv-*`` (see the README).
- :func:`spawn`: run ``fn(*args)`` in ``N`` local processes joined in a gloo/nccl group on a
  free loopback port (``torch.multiprocessing.spawn``), for tests and benchmarks.
"""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading

import torch

from ..errors import PyprogenError
from .distributed import process_group

#: environment variables torchrun (torch.distributed.run) sets in every worker
TORCHRUN_ENV = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK")


def under_torchrun():
    """True in a worker started by torchrun (or by :func:`spawn`)."""
    return any(k in os.environ for k in TORCHRUN_ENV)


def strip_option(argv, option):
    """``argv`` without ``option VALUE`` / ``option=VALUE``."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == option:
            skip = True
        elif not token.startswith(option + "="):
            out.append(token)
    return out


def torchrun_command(nproc, argv, module="pyprogen", max_restarts=0):
    """The torchrun command line that runs ``python -m module argv`` in ``nproc`` local processes
    (restarting the group up to ``max_restarts`` times when a worker fails)."""
    restarts = [f"--max-restarts={int(max_restarts)}"] if max_restarts else []
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={int(nproc)}",
            *restarts, "-m", module, *strip_option(strip_option(list(argv), "--nproc"), "--max-restarts")]


def torchrun_env(max_restarts, environ=None):
    """The environment for torchrun. With restarts, torchrun's agent must not share its rendezvous
    TCPStore with the workers (``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1``): in a shared store the
    restarted workers can read the gloo/nccl addresses the previous attempt left there and fail to
    connect, or wait until the process-group timeout (pytorch/pytorch#135712); a store of its own
    per attempt starts clean. An explicit setting in the environment wins."""
    env = dict(os.environ if environ is None else environ)
    if max_restarts:
        env.setdefault("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
    return env


def relaunch(nproc, argv, max_restarts=0):
    """Run ``pyprogen argv`` under torchrun with ``nproc`` processes; returns torchrun's exit status
    (128 + N when it ended by signal N). SIGTERM and SIGUSR1 received meanwhile go to torchrun as SIGTERM."""
    if under_torchrun():
        raise PyprogenError("nproc: already running under torchrun; drop --nproc and --max-restarts (torchrun's "
                            "--nproc-per-node and --max-restarts set them)")
    child = subprocess.Popen(torchrun_command(nproc, argv, max_restarts=max_restarts), env=torchrun_env(max_restarts))
    forward = lambda signum, frame: child.send_signal(signal.SIGTERM)  # noqa: E731
    main = threading.current_thread() is threading.main_thread()  # only the main thread may set handlers
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGUSR1)} if main else {}
    try:
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def resolve_function(fn):
    """``fn`` itself, or the function ``NAME`` of the file ``"PATH.py:NAME"`` (imported by path, so
    that test modules which are not importable by name, e.g. under pytest's importlib mode, work)."""
    if callable(fn):
        return fn
    path, _, name = str(fn).rpartition(":")
    spec = importlib.util.spec_from_file_location(f"_pyprogen_spawned_{abs(hash(path))}", path)
    if not path.endswith(".py") or spec is None:
        raise PyprogenError(f"fn: expected a callable or 'PATH.py:NAME', got {fn!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _worker(local_rank, fn, nproc, port, threads, device, args):
    fn = resolve_function(fn)
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(local_rank),
                       "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(nproc), "LOCAL_WORLD_SIZE": str(nproc)})
    torch.set_num_threads(threads)
    with process_group(device):
        fn(*args)


def spawn(fn, nproc, *args, threads=None, device="cpu"):
    """Run ``fn(*args)`` in ``nproc`` fresh processes forming one process group (gloo on CPU).

    ``fn`` is a module-level function of an importable module, or ``"PATH.py:NAME"``; results go
    through files. Each process
    gets ``threads`` intra-op threads (default: the CPU count divided by ``nproc``, at least 1).
    """
    threads = threads or max(1, (os.cpu_count() or 1) // int(nproc))
    torch.multiprocessing.spawn(_worker, args=(fn, int(nproc), free_port(), threads, device, args), nprocs=int(nproc),
                                join=True)
