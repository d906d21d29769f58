"""One line of text for an exception, for one-line error messages (the CLI's, a report's)."""

from __future__ import annotations


def first_line(exc: BaseException, *, typed: bool = False) -> str:
    """The first line of the exception's message (of the driver's own, for a SQLAlchemy
    error), after its type's name when `typed`; the type's name alone when it says nothing."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" if typed else lines[0]
