"""The project's own error types.

Every bad input a user can give (a data file, a flag, a target string, a model name)
raises :class:`PyprogenError` with a one-line message that names the argument and
what was expected. The CLI turns it into exit status 2 and that one line on stderr.
"""


class PyprogenError(ValueError):
    """Bad input from the user: a one-line, human-readable message."""


class TrainingDiverged(PyprogenError):
    """A loss or gradient became NaN/inf during training."""


def expect(condition, argument, expected, got=None):
    """Raise ``PyprogenError("<argument>: expected <expected>, got <got>")`` unless ``condition``."""
    if not condition:
        msg = f"{argument}: expected {expected}"
        if got is not None:
            msg += f", got {got}"
        raise PyprogenError(msg)
