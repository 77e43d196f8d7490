"""
Many waits on one workflow, in one process, sharing each read of the workflow's ``/overall`` metrics.

A triggerer may hold hundreds of waits on a handful of workflows. Each wait asks for its instance's
status no older than its own poll; waits that ask at about the same time (they wake on a shared
clock grid) share one paging of ``/overall`` that looks for all their instances at once, so Domo
sees about one read per workflow per poll interval instead of one per wait. Nothing here knows of
Airflow; nothing is shared across processes or event loops.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime

from airflow_provider_domo_workflows.client.async_client import AsyncDomoWorkflowsClient
from airflow_provider_domo_workflows.client.client import (
    DEFAULT_PAGE_SIZE,
    InstanceResult,
    check_instance_id,
    metric_or_raise,
)
from airflow_provider_domo_workflows.client.config import DomoConnectionConfig
from airflow_provider_domo_workflows.client.models import InstanceMetric

# How long a read waits for other waits to join it before it goes out: waits that wake on the same
# tick register within milliseconds of each other.
GATHER_SECONDS = 0.05


@dataclass
class _Read:
    """One shared paging of ``/overall``: when it was asked for, which instances it covers, its result."""

    asked_at: float
    task: asyncio.Task[dict[str, InstanceResult]] | None = None
    covers: frozenset[str] | None = None  # None while it still gathers waits

    def serves(self, instance_id: str, fresher_than: float) -> bool:
        return self.asked_at >= fresher_than and (self.covers is None or instance_id in self.covers)


class SharedWorkflowReader:
    """
    The shared reads of one workflow, through one connection, in one event loop.

    :param config: the connection.
    :param workflow_alias: the workflow.
    :param page_size: instances asked for per page.
    """

    def __init__(self, config: DomoConnectionConfig, workflow_alias: str, page_size: int = DEFAULT_PAGE_SIZE):
        self.config = config
        self.workflow_alias = workflow_alias
        self.page_size = page_size
        self.reads = 0  # pagings of /overall made so far, for measurements
        self._watched: Counter[str] = Counter()
        self._created_after: dict[str, list[datetime | None]] = {}
        self._created_on: dict[str, datetime] = {}
        self._latest: _Read | None = None
        self._client: AsyncDomoWorkflowsClient | None = None
        self._client_lock = asyncio.Lock()
        self._users = 0

    @contextmanager
    def watch(
        self, instance_id: str, created_after: datetime | None, created_on: datetime | None = None
    ) -> Iterator[str]:
        """
        Include one instance in the shared reads for the duration of the block; yield its canonical id.

        :param created_after: a time before the instance was created (Airflow's clock).
        :param created_on: when Domo created it, if known: narrows the reads to that moment.
        """
        canonical = check_instance_id(instance_id)
        if created_on is not None:
            self._created_on[canonical] = created_on
        self._watched[canonical] += 1
        self._created_after.setdefault(canonical, []).append(created_after)
        try:
            yield canonical
        finally:
            self._watched[canonical] -= 1
            self._created_after[canonical].remove(created_after)
            if not self._watched[canonical]:
                del self._watched[canonical], self._created_after[canonical]
                self._created_on.pop(canonical, None)
                if self._client is not None:
                    self._client.pins.drop([canonical])

    async def read(self, instance_id: str, *, fresher_than: float) -> InstanceMetric | None:
        """
        The instance's metric from a read asked for at or after ``fresher_than`` (the loop's clock).

        ``None`` while the instance is not listed. A failed read raises its error in every wait it
        served, and an error that concerns one instance only (its row, its own read) in that
        instance's waits only; the next read tries again.
        """
        canonical = check_instance_id(instance_id)
        latest = self._latest
        if latest is None or not latest.serves(canonical, fresher_than):
            latest = self._latest = _Read(asked_at=asyncio.get_running_loop().time())
            latest.task = asyncio.create_task(self._paging(latest))
            # A wait cancelled while others need the read must not cancel it, nor leave its error unread.
            latest.task.add_done_callback(lambda task: task.cancelled() or task.exception())
        assert latest.task is not None
        found = await asyncio.shield(latest.task)
        return metric_or_raise(found.get(canonical))

    async def _paging(self, read: _Read) -> dict[str, InstanceResult]:
        await asyncio.sleep(GATHER_SECONDS)
        read.covers = frozenset(self._watched)
        windows = [after for afters in self._created_after.values() for after in afters]
        created_after = None if not windows or None in windows else min(w for w in windows if w is not None)
        self.reads += 1
        client = await self._get_client()
        for instance_id in read.covers:
            if instance_id in self._created_on:
                client.pins.seed(instance_id, self._created_on[instance_id])
        return await client.find_instance_metrics(
            self.workflow_alias, read.covers, created_after=created_after, page_size=self.page_size
        )

    async def _get_client(self) -> AsyncDomoWorkflowsClient:
        async with self._client_lock:
            if self._client is None:
                # Building it loads the CA bundle from disk (tens of milliseconds): not on the event loop.
                self._client = await asyncio.to_thread(AsyncDomoWorkflowsClient, self.config)
            return self._client

    async def aclose(self) -> None:
        """Stop a read under way and close the connections."""
        if self._latest is not None and self._latest.task is not None:
            self._latest.task.cancel()
        if self._client is not None:
            await self._client.aclose()


_readers: dict[tuple[int, DomoConnectionConfig, str], SharedWorkflowReader] = {}


@asynccontextmanager
async def shared_reader(
    config: DomoConnectionConfig, workflow_alias: str
) -> AsyncIterator[SharedWorkflowReader]:
    """The reader this event loop shares for one workflow and connection; closed when its last user leaves."""
    key = (id(asyncio.get_running_loop()), config, workflow_alias)
    reader = _readers.get(key)
    if reader is None:
        reader = _readers[key] = SharedWorkflowReader(config, workflow_alias)
    reader._users += 1
    try:
        yield reader
    finally:
        reader._users -= 1
        if not reader._users:
            del _readers[key]
            await reader.aclose()
