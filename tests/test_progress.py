"""``progress_bar``: quiet in logs (non-terminal streams), plain tqdm on a terminal."""
import io

from pyprogen.progress import NON_TTY_MININTERVAL, progress_bar


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_non_terminal_stream_redraws_at_most_every_few_seconds():
    stream = io.StringIO()
    bar = progress_bar(total=1000, file=stream, mininterval=0.5, desc="fit")
    assert NON_TTY_MININTERVAL >= 5.0
    assert bar.mininterval >= NON_TTY_MININTERVAL and bar.dynamic_ncols is False
    for _ in range(1000):  # well under 5 s: only the first draw and the closing one
        bar.update(1)
    bar.close()
    draws = [d for d in stream.getvalue().replace("\r", "\n").splitlines() if d.strip()]
    assert len(draws) == 2 and "0/1000" in draws[0] and "1000/1000" in draws[-1]


def test_terminal_stream_keeps_the_callers_interval():
    bar = progress_bar(range(3), file=FakeTerminal(), mininterval=0.5)
    assert bar.mininterval == 0.5
    assert list(bar) == [0, 1, 2]


def test_disable_and_iterable_pass_through():
    stream = io.StringIO()
    assert sum(progress_bar(range(5), file=stream, disable=True)) == 10
    assert stream.getvalue() == ""


def test_default_stream_is_stderr_at_call_time(capsys):
    with progress_bar(total=2, desc="xyz") as bar:
        bar.update(2)
    captured = capsys.readouterr()
    assert "xyz" in captured.err and "2/2" in captured.err and captured.out == ""
