"""The little of a task's context that the provider's classes read, for tests that call them directly."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any


class FakeTaskInstance:
    """Records what a task pushes to XCom; says which try this is."""

    def __init__(self, try_number: int = 1, max_tries: int = 0) -> None:
        self.xcoms: dict[str, Any] = {}
        self.try_number = try_number
        self.max_tries = max_tries
        self.start_date = datetime.now(timezone.utc)
        self.task = SimpleNamespace(execution_timeout=None)
        self.stats_tags: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class FakeStateStore(dict[str, Any]):
    """The task state store: a dict that outlives the task object, as across retries and reschedules."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


def task_context(
    run_after: datetime | None = None, store: FakeStateStore | None = None, **ti_kwargs: Any
) -> dict[str, Any]:
    """A context with a DAG run, a task instance and a state store."""
    return {
        "dag_run": SimpleNamespace(run_after=run_after or datetime.now(timezone.utc)),
        "ti": FakeTaskInstance(**ti_kwargs),
        "task_state_store": store if store is not None else FakeStateStore(),
    }
