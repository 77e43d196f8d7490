"""
One retry policy for every read and cancel, sync and async: exponential backoff with jitter, and
Domo's (or a gateway's) ``Retry-After`` honoured, within a cap. A start is never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity

from airflow_provider_domo_workflows.client.errors import DomoApiError, DomoRequestError

DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_MAX_WAIT = 30.0
# The statuses worth asking again; a 500 is Domo's own failure and is not retried blindly.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
_INITIAL_WAIT = 1.0
log = logging.getLogger(__name__)
_T = TypeVar("_T")


def is_retryable(error: BaseException) -> bool:
    """Whether one request is worth sending again: no answer, 429, 502, 503, 504, or JSON cut short."""
    if isinstance(error, DomoRequestError):
        return True
    return isinstance(error, DomoApiError) and (error.incomplete or error.status_code in RETRYABLE_STATUS)


@dataclass(frozen=True)
class RetryPolicy:
    """
    How many times, and how long apart, a read or a cancel is tried again.

    :param max_retries: tries after the first (0 turns retries off).
    :param max_wait: the longest sleep between two tries, in seconds; it also caps ``Retry-After``.
    :param sleep: what sleeps between tries (tests replace it); the async path always awaits asyncio.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    max_wait: float = DEFAULT_RETRY_MAX_WAIT
    sleep: Callable[[float], Any] | None = None

    def call(self, attempt: Callable[[], _T], within: float | None = None) -> _T:
        """
        Run ``attempt``, again after a retryable error, until it succeeds or the tries run out.

        :param within: seconds the caller can spare: no pause is taken that would end after them,
            so that retries never carry a wait past its own deadline.
        """
        options = self._options(within)
        if self.sleep is not None:
            options["sleep"] = self.sleep
        return tenacity.Retrying(**options)(attempt)

    async def acall(self, attempt: Callable[[], Awaitable[_T]], within: float | None = None) -> _T:
        """The asynchronous twin of :meth:`call`."""
        options = self._options(within)
        if self.sleep is not None:
            options["sleep"] = _async_recorder(self.sleep)
        return await tenacity.AsyncRetrying(**options)(attempt)

    def _options(self, within: float | None) -> dict[str, Any]:
        stop: Any = tenacity.stop_after_attempt(self.max_retries + 1)
        if within is not None:
            stop = stop | tenacity.stop_before_delay(max(within, 0.0))
        return {
            "stop": stop,
            "wait": self._wait,
            "retry": tenacity.retry_if_exception(is_retryable),
            "before_sleep": _log_retry,
            "reraise": True,
        }

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.max_wait))
        backoff = tenacity.wait_exponential_jitter(
            initial=_INITIAL_WAIT, max=self.max_wait, jitter=_INITIAL_WAIT
        )
        return float(backoff(state))


def _async_recorder(sleep: Callable[[float], Any]) -> Callable[[float], Awaitable[None]]:
    async def recorded(seconds: float) -> None:
        sleep(seconds)

    return recorded


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    seconds = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("%s Trying again in %.1f s (try %d failed).", error, seconds, state.attempt_number)
