"""One training per run directory: an exclusive, non-blocking ``fcntl.flock`` on ``out/.lock``.

A second training pointed at the same directory fails at once with a
:class:`~pyprogen.errors.PyprogenError` naming the directory and the holder's pid; the first is
unharmed. The kernel drops an ``flock`` when its process dies (even by SIGKILL), so a lock left
by a crashed run never blocks the next one. Within one process the lock is re-entrant (a
``train_run`` that holds it may call ``fit``, which takes it again). A directory the lock itself
created is removed again on release if nothing but the lock file was written into it (a command
that fails on bad input leaves nothing behind).

Once the lock is held, the temp files of ``checkpoint.pt``/``metrics.json`` that a killed run
left behind (``pyprogen.io`` names them ``.<name>.<random>.tmp``) are removed: nobody else can
be writing them.
"""
import contextlib
import fcntl
import os

from ..errors import PyprogenError
from .checkpoint import CHECKPOINT, METRICS

LOCK_NAME = ".lock"
_HELD = {}  # realpath of the run directory -> [file object, depth, pid, whether we created the directory]


class RunLock:
    """``with RunLock(out): ...`` or ``lock = RunLock(out).acquire(); ...; lock.release()``."""

    def __init__(self, out):
        self.out = os.fspath(out)
        self.key = None

    def acquire(self):
        try:
            key = os.path.realpath(self.out)
        except ValueError as exc:  # a NUL byte
            raise PyprogenError(f"out: cannot use {self.out!r} as a run directory ({exc})") from None
        held = _HELD.get(key)
        if held is not None and held[2] == os.getpid():
            held[1] += 1
            self.key = key
            return self
        path = os.path.join(self.out, LOCK_NAME)
        while True:
            created = _missing_root(self.out)  # the topmost directory this lock creates (None: none)
            try:
                os.makedirs(self.out, exist_ok=True)
                f = open(path, "a+")  # the lock file is not an output; it is never replaced while held
            except (OSError, ValueError) as exc:  # a file of that name, no permission, a NUL byte
                raise PyprogenError(f"out: cannot use {self.out!r} as a run directory "
                                    f"({getattr(exc, 'strerror', None) or exc})") from None
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "unknown"
                f.close()
                raise PyprogenError(f"out: {self.out} is in use by another training (pid {holder}); "
                                    "wait for it to finish or choose another --out") from None
            if _same_file(f, path):
                break
            f.close()  # locked a lock file its holder removed in the meantime: take the new one
        try:  # the holder's pid, for the message a second run prints
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
        except OSError as exc:  # a full disk (ENOSPC) or a read-only file system under the lock
            f.close()
            raise PyprogenError(f"out: cannot write the lock file in {self.out!r} "
                                f"({exc.strerror or exc})") from None
        _HELD[key] = [f, 1, os.getpid(), created]
        self.key = key
        _remove_stale_temp_files(self.out)
        return self

    def release(self):
        key, self.key = self.key, None
        held = _HELD.get(key) if key is not None else None
        if held is None or held[2] != os.getpid():
            return
        held[1] -= 1
        if held[1] == 0:
            del _HELD[key]
            f = held[0]
            with contextlib.suppress(OSError):
                f.seek(0)
                f.truncate()
                directory = os.path.dirname(os.path.abspath(f.name))
                if held[3] and os.listdir(directory) == [LOCK_NAME]:
                    os.unlink(f.name)  # a run that failed before writing anything leaves no directory
                    while True:
                        os.rmdir(directory)
                        if directory == held[3]:
                            break
                        directory = os.path.dirname(directory)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _missing_root(path):
    path, root = os.path.abspath(path), None
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path, root = os.path.dirname(path), path
    return root


def _same_file(f, path):
    try:
        return os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
    except OSError:
        return False


def run_lock(out):
    """A held :class:`RunLock` on ``out`` (``out=None``: a no-op context)."""
    return contextlib.nullcontext() if out is None else RunLock(out)


def _remove_stale_temp_files(directory):
    prefixes = tuple(f".{name}." for name in (CHECKPOINT, METRICS))
    for name in os.listdir(directory):
        if name.startswith(prefixes) and name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))
