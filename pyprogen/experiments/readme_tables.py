"""The renderers behind README's results blocks (see readme.py): one per ``docs/results/NAME.json``.

Each takes the JSON a committed command wrote and returns the Markdown the README shows, with the
command under it, so a README number is always a function of a committed output.
"""
from .readme import RESULT_TABLES, command_line, fmt, mean_sd, table  # noqa: F401

#: results files kept for the record but shown in the README only through a linked file (none yet)
UNSHOWN = ()
