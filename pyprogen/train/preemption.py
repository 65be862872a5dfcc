"""Preemption and elastic restarts: stop at a step boundary on SIGTERM/SIGUSR1, resume by itself.

Schedulers warn before they kill: SLURM sends SIGTERM (and, with ``--signal=USR1@T``, SIGUSR1
``T`` seconds ahead), Kubernetes and spot instances SIGTERM with a grace period, torchrun's agent
SIGTERM to every worker it stops. While ``fit`` runs with a run directory, :class:`PreemptionGuard`
turns either signal into a request: the current step finishes, every rank agrees on the step
(the request rides on the per-step all-reduce of the losses), a checkpoint that records the
position inside the epoch is written atomically, one line goes to stderr and the process exits
with status 143 (128 + SIGTERM) through :class:`Preempted`. The handlers are installed only for
the duration of ``fit`` and only in the main thread (Python delivers signals there), and the
previous ones are restored afterwards.

Elastic restarts: torchrun (``--max-restarts R``) restarts every worker of a group in which one
died, with ``TORCHELASTIC_RESTART_COUNT`` counting the restarts and the same
``TORCHELASTIC_RUN_ID``. :func:`elastic_resume` tells ``fit`` to continue from the run's
checkpoint in that case, and only from a checkpoint this elastic run wrote (never an older run's
in the same directory).
"""
import os
import signal
import sys
import threading

#: exit status of a preempted run: 128 + SIGTERM, what a process killed by SIGTERM reports to a shell
EXIT_STATUS = 143
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(SystemExit):
    """Raised by ``fit`` after the preemption checkpoint; exits the interpreter with status 143."""

    def __init__(self, message):
        super().__init__(EXIT_STATUS)
        self.message = message

    def __str__(self):
        return self.message


class PreemptionGuard:
    """``with PreemptionGuard() as guard: ...``; ``guard.requested`` is the first signal's name
    (``"SIGTERM"``/``"SIGUSR1"``) once one arrived, else None. Outside the main thread it installs
    nothing (and never reports a request)."""

    def __init__(self, signals=SIGNALS):
        self.signals = tuple(signals)
        self.requested = None
        self._previous = {}

    def _handler(self, signum, frame):
        if self.requested is None:
            self.requested = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        return False


def stop(message, main=True):
    """Print the one line (on the main process) and raise :class:`Preempted`."""
    if main:
        print(f"pyprogen: {message}", file=sys.stderr, flush=True)
    raise Preempted(message)


# -- elastic restarts ----------------------------------------------------------------------------
def elastic_run_id():
    """torchrun's run id (the same for every restart of one ``torchrun`` invocation), or None."""
    return os.environ.get("TORCHELASTIC_RUN_ID")


def restart_count():
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def elastic_resume(state, restarted=None):
    """True when the worker group was restarted by torchrun (``restarted``; default: this worker's
    ``TORCHELASTIC_RESTART_COUNT > 0``) and ``state`` (the run's checkpoint, or None) was written by
    an earlier attempt of the same elastic run (``TORCHELASTIC_RUN_ID``: ``--rdzv-id``, or a fresh
    id per ``torchrun --standalone``)."""
    restarted = restart_count() > 0 if restarted is None else restarted
    return (state is not None and restarted and elastic_run_id() is not None
            and state.get("elastic_run_id") == elastic_run_id())
