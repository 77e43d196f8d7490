"""Checks of operator and sensor arguments, light enough to run when a DAG file is parsed."""

from __future__ import annotations

from datetime import timedelta

# A year: longer waits are mistakes, and far larger ones overflow datetime arithmetic.
MAX_WAIT_SECONDS = 366 * 24 * 3600.0


def require_text(field: str, value: object) -> str:
    """Return a rendered template field as text, or raise a ``ValueError`` naming it when it is empty."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"{field} is {value!r} after rendering: give a non-empty string (check the template or the "
            "XCom it pulls)."
        )
    return value.strip()


def check_interval(name: str, value: object) -> float:
    """Seconds as a positive float, from a number or a ``timedelta``; a ``ValueError`` names ``name``."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 < seconds < MAX_WAIT_SECONDS
    ):
        raise ValueError(
            f"{name} is {value!r}: give a positive number of seconds (or a timedelta) below "
            f"{MAX_WAIT_SECONDS:,.0f}."
        )
    return float(seconds)
