"""Workflow instance statuses as Domo reports them, and the one rule that turns a status into a decision."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema


class WorkflowState(str, enum.Enum):
    """The states a waiter tells apart; every status Domo sends maps to exactly one."""

    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"


# Domo sends JSON null, or the string "null" (its own examples do), for an instance that has not
# reported as started yet. "CANCELLED" has only been seen in a third-party listing filter.
_ALIASES = {"NULL": WorkflowState.NOT_STARTED, "CANCELLED": WorkflowState.CANCELED}
_TERMINAL = frozenset({WorkflowState.COMPLETED, WorkflowState.FAILED, WorkflowState.CANCELED})


@dataclass(frozen=True, eq=False)
class WorkflowStatus:
    """
    A status as Domo sent it (``raw``) and what it means (``state``).

    Comparison is case-insensitive and an unrecognised value becomes ``UNKNOWN``, which is never
    terminal: a waiter keeps waiting (and warns) rather than guessing at a success or a failure.
    """

    state: WorkflowState
    raw: str | None = None

    @classmethod
    def parse(cls, value: object) -> WorkflowStatus:
        """Read a status from Domo's JSON (a string or null)."""
        if isinstance(value, WorkflowStatus):
            return value
        if value is None:
            return cls(WorkflowState.NOT_STARTED, None)
        if not isinstance(value, str):
            raise ValueError(f"a workflow status must be a string or null, not {type(value).__name__}")
        normalised = value.strip().upper()
        if normalised in _ALIASES:
            return cls(_ALIASES[normalised], value)
        try:
            return cls(WorkflowState(normalised), value)
        except ValueError:
            return cls(WorkflowState.UNKNOWN, value)

    @property
    def is_terminal(self) -> bool:
        """Whether the instance has ended (completed, failed or canceled)."""
        return self.state in _TERMINAL

    def to_json(self) -> str | None:
        """The status as it is written to XCom and logs: the state's name, or Domo's own word if unknown."""
        if self.state is WorkflowState.NOT_STARTED:
            return None
        if self.state is WorkflowState.UNKNOWN:
            return self.raw
        return str(self.state.value)

    def __str__(self) -> str:
        if self.state is WorkflowState.NOT_STARTED:
            return "not started yet"
        return repr(self.raw) if self.state is WorkflowState.UNKNOWN else self.state.value

    def _key(self) -> tuple[WorkflowState, str | None]:
        # Statuses compare case-insensitively: only an unknown one is told apart by its text.
        unknown_text = (self.raw or "").strip().upper() if self.state is WorkflowState.UNKNOWN else None
        return self.state, unknown_text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkflowStatus):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda status: status.to_json()),
        )


class Outcome(enum.Enum):
    """What a waiter does next."""

    WAIT = "wait"
    SUCCEED = "succeed"
    FAIL = "fail"


def outcome_of(status: WorkflowStatus) -> Outcome:
    """
    Decide, from one status, whether to keep waiting, succeed or fail.

    Every way of waiting (poke, reschedule, deferred, the operator's own wait) calls this, so they
    cannot disagree. Not started, in progress and unknown statuses all mean "wait".
    """
    if status.state is WorkflowState.COMPLETED:
        return Outcome.SUCCEED
    if status.state in (WorkflowState.FAILED, WorkflowState.CANCELED):
        return Outcome.FAIL
    return Outcome.WAIT
