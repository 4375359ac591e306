"""The one base class of the errors a user can act on: a bad config, input, run_dir, registry
state or failed run. The CLI prints such an error as one line and exits with its `exit_code`;
anything else is a bug and keeps its traceback."""
from __future__ import annotations


class UserError(Exception):
    """An error the user can act on (one line, names the file and field where there is one)."""

    exit_code = 2


class PreflightError(UserError, ValueError):
    """The experiment or run_dir cannot run honestly; raised before anything is written."""


class PullError(UserError, ValueError):
    """A pull from a source that cannot be used; the message names the source, the file and the field."""
