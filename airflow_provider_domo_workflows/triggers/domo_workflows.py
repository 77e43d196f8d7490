"""Trigger that waits, in Airflow's triggerer, for one Domo workflow instance to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_domo_workflows.constants import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow_provider_domo_workflows.client.shared import SharedWorkflowReader

ON_KILL_CONFIRM_SECONDS = 20.0
# A read asked for up to this long before a wait woke is fresh enough for it: waits on one tick share it.
SHARE_SECONDS = 1.0


class WorkflowInstanceTrigger(BaseTrigger):
    """
    Poll one instance until it ends, or until an absolute deadline, without blocking the event loop.

    Every request is asynchronous and the connection is read with ``aget_connection``. The kwargs
    are plain JSON values, so the trigger survives a triggerer restart or a move to another
    triggerer; neither cancels the instance. Only ``on_kill`` (a user marking the task failed or
    success, or clearing it) does, and only with ``cancel_on_kill``.

    :param workflow_alias: the workflow the instance belongs to.
    :param instance_id: the instance to wait for.
    :param domo_conn_id: the ``domo_workflows`` connection.
    :param created_after: ISO-8601 time before the instance was created, to narrow the search.
    :param poll_interval: seconds between two reads of the instance's status.
    :param deadline: ISO-8601 time at which the wait ends with a timeout event; ``None`` waits forever.
    :param deadline_source: the setting behind the deadline (``timeout`` or ``execution_timeout``),
        echoed in the timeout event so that the task ends as it would have without deferring.
    :param cancel_on_kill: cancel the instance when a user kills the task.
    """

    def __init__(
        self,
        *,
        workflow_alias: str,
        instance_id: str,
        domo_conn_id: str = DEFAULT_CONN_ID,
        created_after: str | None = None,
        poll_interval: float = 30.0,
        deadline: str | None = None,
        deadline_source: str = "timeout",
        cancel_on_kill: bool = False,
        instance_created_on: str | None = None,
    ) -> None:
        super().__init__()
        # When Domo created the instance (its start answer's createdOn), if known: narrows the reads.
        self.instance_created_on = instance_created_on
        self.workflow_alias = workflow_alias
        self.instance_id = instance_id
        self.domo_conn_id = domo_conn_id
        self.created_after = created_after
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.deadline_source = deadline_source
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the kwargs (plain JSON values) that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "workflow_alias": self.workflow_alias,
                "instance_id": self.instance_id,
                "domo_conn_id": self.domo_conn_id,
                "created_after": self.created_after,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "deadline_source": self.deadline_source,
                "cancel_on_kill": self.cancel_on_kill,
                "instance_created_on": self.instance_created_on,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield one event: the instance ended, the deadline passed, or an error stopped the wait."""
        from airflow_provider_domo_workflows.client import DomoWorkflowsError
        from airflow_provider_domo_workflows.client.shared import shared_reader
        from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
        from airflow_provider_domo_workflows.waits import EVENT_ERROR

        try:
            config = await DomoWorkflowsHook(self.domo_conn_id).aget_config()
            async with shared_reader(config, self.workflow_alias) as reader:
                with reader.watch(
                    self.instance_id,
                    _parse_time(self.created_after),
                    created_on=_parse_time(self.instance_created_on),
                ):
                    payload = await self._wait_for_end(reader)
        except Exception as error:
            # Whatever went wrong (a connection missing from the triggerer's environment, a bug), the
            # task must hear of it and decide, rather than the trigger dying without an event.
            message = (
                str(error) if isinstance(error, DomoWorkflowsError) else f"{type(error).__name__}: {error}"
            )
            payload = {"status": EVENT_ERROR, "message": message}
        yield TriggerEvent(self._event(payload))

    async def _wait_for_end(self, reader: SharedWorkflowReader) -> dict[str, Any]:
        """Poll on the shared clock grid until the instance ends or the deadline passes."""
        from airflow_provider_domo_workflows.client import (
            DomoWorkflowsError,
            Outcome,
            is_transient,
            outcome_of,
        )
        from airflow_provider_domo_workflows.waits import EVENT_TIMEOUT, ended_event

        loop = asyncio.get_running_loop()
        deadline = _parse_time(self.deadline)
        # Never older than a fraction of this wait's own interval, whatever the other waits accept.
        share_seconds = min(SHARE_SECONDS, self.poll_interval / 4)
        last_status = "unknown"
        while True:
            woke = loop.time()
            try:
                # Shared with the other waits on this workflow that woke on the same tick; a read still
                # retrying at this wait's deadline goes on for the others, not for this one.
                metric = await asyncio.wait_for(
                    reader.read(self.instance_id, fresher_than=woke - share_seconds),
                    timeout=None if deadline is None else max(_seconds_until(deadline), 0.0),
                )
            except asyncio.TimeoutError:
                pass  # the deadline came while reading: the check below ends the wait
            except DomoWorkflowsError as error:
                if not is_transient(error):
                    raise
                # Domo or the network failed this once: the instance runs on, so does the wait.
                self.log.warning(
                    "Reading Domo instance %s failed; will try again: %s", self.instance_id, error
                )
            else:
                status = str(metric.status) if metric is not None else "not listed yet"
                if status != last_status:
                    self.log.info("Domo instance %s is %s.", self.instance_id, status)
                    last_status = status
                if metric is not None and outcome_of(metric.status) is not Outcome.WAIT:
                    return ended_event(metric)
            remaining = _seconds_until(deadline)
            if remaining <= 0:
                message = f"instance {self.instance_id} was {last_status} at the deadline {self.deadline}"
                return {"status": EVENT_TIMEOUT, "message": message, "deadline_source": self.deadline_source}
            await asyncio.sleep(min(_until_next_tick(self.poll_interval), remaining))

    def _event(self, payload: dict[str, Any]) -> dict[str, Any]:
        # Every event names the instance, so the task can act on it (cancel it) whatever the event says.
        return {
            **payload,
            "workflow_alias": self.workflow_alias,
            "instance_id": self.instance_id,
            "created_after": self.created_after,
        }

    async def on_kill(self) -> None:
        """Cancel the instance when a user kills the task, if this trigger owns it."""
        from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook

        if not self.cancel_on_kill:
            return
        # Airflow gives on_kill 30 s: the cancel is sent first, then confirmed for at most 20 s.
        metric = await DomoWorkflowsHook(self.domo_conn_id).acancel_instance(
            self.workflow_alias,
            self.instance_id,
            created_after=_parse_time(self.created_after),
            confirm_timeout=ON_KILL_CONFIRM_SECONDS,
        )
        self.log.info(
            "The task was killed: cancelled Domo instance %s of workflow %r; it is now %s.",
            self.instance_id,
            self.workflow_alias,
            metric.status if metric is not None else "not listed",
        )


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _until_next_tick(poll_interval: float) -> float:
    """Seconds to the next multiple of ``poll_interval`` on the wall clock, where waits wake together."""
    return poll_interval - time.time() % poll_interval


def _seconds_until(deadline: datetime | None) -> float:
    if deadline is None:
        return float("inf")
    return (deadline - datetime.now(timezone.utc)).total_seconds()
