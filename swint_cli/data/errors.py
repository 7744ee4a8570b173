"""The one exception of the data package."""

from __future__ import annotations

from ..errors import UserError


class DataError(UserError, ValueError):
    """A data set cannot be read: a one-line message naming the path and the expected format."""
