"""The base class of every error whose message is meant for the user."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a recipe, data set, model setting, run directory or file that
    cannot be used. The message is one line that names the field or file and what was
    expected; every command prints it as ``error: <message>`` and exits with code 2."""
