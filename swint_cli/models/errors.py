"""The error the model builders raise."""

from __future__ import annotations


class ModelError(ValueError):
    """A model that cannot be built as asked; the message is one line meant for the user."""
