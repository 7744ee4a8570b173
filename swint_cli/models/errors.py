"""The error the model builders raise."""

from __future__ import annotations

from ..errors import UserError


class ModelError(UserError, ValueError):
    """A model that cannot be built as asked; the message is one line meant for the user."""
