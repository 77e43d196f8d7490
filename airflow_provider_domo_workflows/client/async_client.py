"""The asynchronous twin of the Domo client, for Airflow's triggerer: same requests, same parsing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx

from airflow_provider_domo_workflows.client.client import (
    DEFAULT_PAGE_SIZE,
    ApiRequest,
    InstancePins,
    InstanceResult,
    ModelT,
    cancel_request,
    check_instance_id,
    direct_metric,
    http_settings,
    instance_request,
    metric_or_raise,
    parse_answer,
    read_json,
    route_unusable,
    search_instances,
    transport_error,
)
from airflow_provider_domo_workflows.client.config import DomoConnectionConfig
from airflow_provider_domo_workflows.client.errors import DomoApiError, DomoWorkflowsError
from airflow_provider_domo_workflows.client.models import InstanceMetric, WorkflowInstance
from airflow_provider_domo_workflows.client.retry import RetryPolicy


class AsyncDomoWorkflowsClient:
    """
    Asynchronous client of Domo's Workflows API: the reads and the cancel a waiter needs.

    It builds its requests and parses its answers with the same functions as
    :class:`~airflow_provider_domo_workflows.client.client.DomoWorkflowsClient`, so the two cannot drift.
    Starting a workflow is deliberately absent: it only ever happens on a worker.

    :param config: where and how to reach Domo.
    :param transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(
        self, config: DomoConnectionConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.retry = RetryPolicy(config.max_retries, config.retry_max_wait)
        self.pins = InstancePins()
        self._http = httpx.AsyncClient(**http_settings(config), transport=transport)

    async def __aenter__(self) -> AsyncDomoWorkflowsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def find_instance_metric(
        self,
        workflow_alias: str,
        instance_id: str,
        *,
        created_after: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> InstanceMetric | None:
        """Find one instance's metric by paging ``/overall``; ``None`` when it is not listed (yet)."""
        found = await self.find_instance_metrics(
            workflow_alias, [instance_id], created_after=created_after, page_size=page_size
        )
        return metric_or_raise(next(iter(found.values()), None))

    async def find_instance_metrics(
        self,
        workflow_alias: str,
        instance_ids: Iterable[str],
        *,
        created_after: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> dict[str, InstanceResult]:
        """
        Several instances' metrics, by canonical instance id; an instance not listed (yet) is left out.

        An error that concerns one instance only (its row, or its own one-instance read) is that
        instance's result, so that it fails no other wait. With a one-instance route in the connection's
        ``instance_read``, each instance is read with it (all at once); otherwise, or once that route
        proves unusable, one paging of ``/overall`` finds them all.
        """
        ids = [check_instance_id(instance_id) for instance_id in instance_ids]
        direct = [instance_request(self.config, workflow_alias, instance_id) for instance_id in ids]
        if ids and all(request is not None for request in direct):
            reads = [
                self._direct(request, wanted) for wanted, request in zip(ids, direct, strict=True) if request
            ]
            answers = await asyncio.gather(*reads, return_exceptions=True)
            results: dict[str, InstanceResult] = {}
            for wanted, answer in zip(ids, answers, strict=True):
                # Anything but Domo's (or the network's) answer is a fault here, not a fact about Domo.
                if isinstance(answer, BaseException) and not isinstance(answer, DomoWorkflowsError):
                    raise answer
                results[wanted] = answer
            refused = [answer for answer in results.values() if isinstance(answer, DomoApiError)]
            if not any(route_unusable(self.config, error) for error in refused):
                return results
        search = search_instances(
            self.config.model_path(workflow_alias),
            ids,
            created_after=created_after,
            page_size=page_size,
            pins=self.pins,
        )
        try:
            request = next(search)
            while True:
                request = search.send(await self._read(request))
        except StopIteration as done:
            result: dict[str, InstanceResult] = done.value
            return result

    async def _direct(self, request: ApiRequest, instance_id: str) -> InstanceMetric:
        return direct_metric(await self._call(request, WorkflowInstance), instance_id, request)

    async def cancel_instance(self, instance_id: str) -> WorkflowInstance:
        """Ask Domo to cancel one instance; the answer's status predates the cancel."""
        return await self._call(cancel_request(instance_id), WorkflowInstance)

    async def _call(self, request: ApiRequest, model: type[ModelT]) -> ModelT:
        async def attempt() -> ModelT:
            return parse_answer(await self._send(request), request, model, self.config.secret)

        return await self.retry.acall(attempt)

    async def _read(self, request: ApiRequest) -> Any:
        async def attempt() -> Any:
            return read_json(await self._send(request), request, self.config.secret)

        return await self.retry.acall(attempt)

    async def _send(self, request: ApiRequest) -> httpx.Response:
        url = self.config.api_root + request.path
        try:
            return await self._http.request(request.method, url, params=request.params, json=request.body)
        except (httpx.RequestError, httpx.InvalidURL, UnicodeError) as error:
            failure = transport_error(error, request, self.config, may_have_started=False)
        # Outside the except block: httpx's error, whose request holds the token, is not kept as context.
        raise failure
