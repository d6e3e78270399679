"""Error types of the environment package."""
from __future__ import annotations


class DataError(ValueError):
    """A data file, one of its columns or one of its values is unusable.

    The message always names the file, the offending column or field, and what was
    expected, so that a user can fix the input without reading the code.
    """


class UnknownPropertyError(KeyError, ValueError):
    """A property name that the material space does not have.

    Subclasses both ``KeyError`` (it is a failed lookup) and ``ValueError`` (it is a bad
    argument), so either ``except`` clause catches it. ``str()`` gives the plain message
    (``KeyError`` would otherwise wrap it in quotes).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
