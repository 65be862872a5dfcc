"""``progress_bar``: the one progress bar of the package (a tqdm bar on stderr).

On a terminal it behaves like plain tqdm. When stderr is not a terminal (CI logs, ``2> file``,
a pipe, a notebook runner) it redraws at most every :data:`NON_TTY_MININTERVAL` seconds and with a
fixed width, so a log gets a handful of lines per bar instead of thousands.
"""
import sys

from tqdm import tqdm

#: seconds between two redraws at least when the stream is not a terminal
NON_TTY_MININTERVAL = 5.0


def is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable=None, **tqdm_kwargs):
    """A ``tqdm`` bar writing to ``file`` (default: ``sys.stderr`` at call time).

    Takes tqdm's own keywords (``total``, ``desc``, ``disable``, ``unit``, ``leave``, ...). When the
    stream is not a terminal, ``mininterval`` is raised to at least :data:`NON_TTY_MININTERVAL`
    seconds and ``dynamic_ncols`` is off.
    """
    stream = tqdm_kwargs.pop("file", None) or sys.stderr
    if not is_terminal(stream):
        tqdm_kwargs["mininterval"] = max(float(tqdm_kwargs.get("mininterval", 0.1)), NON_TTY_MININTERVAL)
        tqdm_kwargs["dynamic_ncols"] = False
    return tqdm(iterable, file=stream, **tqdm_kwargs)
