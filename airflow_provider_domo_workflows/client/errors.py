"""Errors of the Domo client; none of them ever carries the access token."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any


class DomoWorkflowsError(Exception):
    """
    Base class of every error the Domo client raises.

    ``may_have_started`` is true when the error came from a start that Domo may have received and
    acted on (no answer after the request was sent, a 5xx, an unreadable 2xx): starting again could
    run the workflow twice.
    """

    may_have_started: bool = False


class DomoApiError(DomoWorkflowsError):
    """
    Domo answered, but not with what was asked for: an HTTP error, or a body that is not the expected JSON.

    :param status_code: the HTTP status of the answer.
    :param method: the HTTP method of the request.
    :param path: the request's path (never its headers, where the token travels).
    :param status_reason: Domo's ``statusReason``, when the body carried one.
    :param domo_message: Domo's ``message``, when the body carried one.
    :param toe: Domo's trace id, which Domo Support asks for.
    :param body_excerpt: the start of a body that was not a Domo error document.
    :param hint: what the user can do about it.
    :param retry_after: seconds the server asked to wait before trying again (``Retry-After``).

    ``incomplete`` is true for a 2xx announced as JSON whose body was cut short: worth asking again.
    """

    incomplete: bool = False

    def __init__(
        self,
        *,
        status_code: int,
        method: str,
        path: str,
        status_reason: str | None = None,
        domo_message: str | None = None,
        toe: str | None = None,
        body_excerpt: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.status_code = status_code
        self.method = method
        self.path = path
        self.status_reason = status_reason
        self.domo_message = domo_message
        self.toe = toe
        self.body_excerpt = body_excerpt
        self.hint = hint
        super().__init__(self._describe())

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its keyword arguments, so that the error can be pickled (and deep-copied).
        fields = {name: getattr(self, name) for name in _API_ERROR_FIELDS}
        return _rebuild_api_error, (fields, self.may_have_started)

    def _describe(self) -> str:
        reason = f" {self.status_reason}" if self.status_reason else ""
        parts = [f"Domo answered HTTP {self.status_code}{reason} to {self.method} {self.path}"]
        if self.domo_message:
            parts.append(f"message: {self.domo_message}")
        if self.body_excerpt:
            parts.append(f"body starts: {self.body_excerpt!r}")
        if self.toe:
            parts.append(f"Domo trace id (toe): {self.toe}")
        if self.hint:
            parts.append(self.hint)
        # Domo's messages and the hints end with their own full stop; each part gets exactly one.
        return " ".join(part if part.endswith((".", "!", "?")) else f"{part}." for part in parts)


_API_ERROR_FIELDS = (
    "status_code",
    "method",
    "path",
    "status_reason",
    "domo_message",
    "toe",
    "body_excerpt",
    "hint",
    "retry_after",
)


def _rebuild_api_error(fields: dict[str, Any], may_have_started: bool) -> DomoApiError:
    error = DomoApiError(**fields)
    error.may_have_started = may_have_started
    return error


class DomoRequestError(DomoWorkflowsError):
    """No answer came from Domo: the host could not be reached, or it did not answer in time."""


def is_transient(error: BaseException) -> bool:
    """
    Whether a failed read is worth trying again later rather than failing a wait.

    No answer at all, 429 (rate limited) and 5xx (Domo or a gateway in trouble) pass; anything else
    (a bad token, a missing grant, an unknown workflow, an answer that is not Domo's, and 501: a route
    the server does not implement) will not fix itself.
    """
    if isinstance(error, DomoRequestError):
        return True
    return isinstance(error, DomoApiError) and (
        error.incomplete
        or error.status_code == 429
        or (error.status_code >= 500 and error.status_code != 501)
    )


def retry_after_seconds(value: str | None) -> float | None:
    """Read ``Retry-After``: a number of seconds, or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())
