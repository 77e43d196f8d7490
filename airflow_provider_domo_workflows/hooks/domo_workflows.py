"""Airflow hook that reads a ``domo_workflows`` connection and hands out a Domo Workflows client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook, Connection
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_domo_workflows.client import (
    DomoApiError,
    DomoConnectionConfig,
    DomoWorkflowsClient,
    DomoWorkflowsError,
    InstanceMetric,
    WorkflowInstance,
    WorkflowMetrics,
)
from airflow_provider_domo_workflows.client.async_client import AsyncDomoWorkflowsClient
from airflow_provider_domo_workflows.constants import CONN_TYPE, DEFAULT_CONN_ID

# Domo answers a cancel at once but ends the instance later: this bounds how long that is confirmed.
CANCEL_CONFIRM_SECONDS = 30.0
CANCEL_POLL_SECONDS = 1.0
# Extras written by Airflow 2's connection form carry this prefix; they keep working.
_LEGACY_EXTRA_PREFIX = f"extra__{CONN_TYPE}__"


# Every extra the connection form offers, by the name DomoConnectionConfig.build takes it under.
CONFIG_EXTRAS = (
    "api_root",
    "timeout",
    "verify",
    "max_retries",
    "retry_max_wait",
    "auth_type",
    "client_id",
    "client_secret",
    "token_url",
    "scope",
    "instance_read",
    "workflows",
)


def connection_extra(extras: Mapping[str, Any], name: str) -> Any:
    """
    Read one extra by its plain name, or by its legacy prefixed name.

    A plain name left empty (null, "" or {}: what the connection form saves for a field not filled in)
    gives way to a legacy value, so that a connection edited in the form keeps the settings it had.
    """
    value = extras.get(name)
    if value is None or value == "" or value == {}:
        return extras.get(_LEGACY_EXTRA_PREFIX + name, value)
    return value


def _refused_as_ended(error: DomoApiError) -> bool:
    """Whether Domo refused a cancel because the instance had ended; how it ended is read next."""
    return error.status_code in (400, 409)


class DomoWorkflowsHook(BaseHook):
    """
    Talk to Domo Workflows through a ``domo_workflows`` connection.

    The connection's ``host`` is the Domo instance (``acme``, ``acme.domo.com``,
    ``https://acme.domo.com`` or a full base URL such as the emulator's ``http://127.0.0.1:8765``),
    its ``password`` the developer access token, sent as ``X-DOMO-Developer-Token``. Extras:
    ``api_root`` (default ``/api/workflow/v1``; ``/domo/workflow/v1`` also works), ``timeout``
    (seconds to wait to connect and for each read, default 30), ``verify`` (TLS verification: true,
    false or a CA bundle path), ``max_retries`` (tries again after no answer, 429, 502, 503 or 504:
    default 3; never for a start) and ``retry_max_wait`` (the longest sleep between tries and cap on
    ``Retry-After``: default 30 s).

    ``auth_type`` ``oauth`` uses OAuth client credentials instead of the password: ``client_id``,
    ``client_secret``, ``token_url`` (default ``https://api.domo.com/oauth/token``) and ``scope``.
    ``workflows`` maps aliases to ``{model_id, version, message_name}`` (started through
    ``instances/message``, read under their model id). ``instance_read`` (``overall``, ``instance`` or
    ``model_instance``) chooses how waits read one instance; see the README.

    :param domo_conn_id: the Airflow connection id, default ``domo_workflows_default``.
    """

    conn_name_attr = "domo_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Domo Workflows"

    def __init__(self, domo_conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.domo_conn_id = domo_conn_id

    @cached_property
    def config(self) -> DomoConnectionConfig:
        """The connection, validated; a ``ValueError`` names the connection and the field at fault."""
        connection = self.get_connection(self.domo_conn_id)
        return self._build_config(connection, connection.extra_dejson)

    async def aget_config(self) -> DomoConnectionConfig:
        """The connection, read without blocking the event loop (for the triggerer)."""
        connection = await self.aget_connection(self.domo_conn_id)
        return self._build_config(connection, await connection.aextra_dejson())

    def _build_config(self, connection: Connection, extras: object) -> DomoConnectionConfig:
        try:
            if extras is None:
                extras = {}
            if not isinstance(extras, Mapping):
                kind = {list: "an array", str: "a string", bool: "a boolean"}.get(type(extras), "a number")
                raise ValueError(
                    f"extra is {kind}, not a JSON object: give the extras as an object such as "
                    '{"timeout": 30}, or leave extra empty.'
                )
            return DomoConnectionConfig.build(
                host=connection.host,
                token=connection.password,
                port=connection.port,
                **{name: connection_extra(extras, name) for name in CONFIG_EXTRAS},
            )
        except ValueError as error:
            raise ValueError(f"Domo Workflows connection {self.domo_conn_id!r}: {error}") from None

    async def aget_async_client(self) -> AsyncDomoWorkflowsClient:
        """A new asynchronous client for this connection; close it with ``async with``."""
        config = await self.aget_config()
        # Building it loads the CA bundle from disk (tens of milliseconds): not on the event loop.
        return await asyncio.to_thread(AsyncDomoWorkflowsClient, config)

    @cached_property
    def client(self) -> DomoWorkflowsClient:
        """A client for this connection, made once per hook."""
        return DomoWorkflowsClient(self.config)

    def get_conn(self) -> DomoWorkflowsClient:
        """Return the Domo client (Airflow's usual name for it)."""
        return self.client

    def start_workflow(
        self, workflow_alias: str, parameters: Mapping[str, Any] | str | None
    ) -> WorkflowInstance:
        """
        Start one instance of a workflow with the given start parameters and return it.

        An alias mapped in the connection's ``workflows`` extra starts through ``instances/message``.
        """
        return self.client.start_workflow(workflow_alias, parameters)

    def start_message(
        self, model_id: str, version: str, message_name: str, parameters: Mapping[str, Any] | str | None
    ) -> WorkflowInstance:
        """Start one instance by model id, version and start message (``POST .../instances/message``)."""
        return self.client.start_message(model_id, version, message_name, parameters)

    def get_workflow_metrics(
        self,
        workflow_alias: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
        status: Iterable[str] | None = None,
    ) -> WorkflowMetrics:
        """Read a workflow's ``/overall`` metrics, with Domo's optional filters."""
        return self.client.get_workflow_metrics(
            workflow_alias, limit=limit, offset=offset, after=after, until=until, status=status
        )

    def find_instance_metric(
        self,
        workflow_alias: str,
        instance_id: str,
        *,
        created_after: datetime | None = None,
        within: float | None = None,
    ) -> InstanceMetric | None:
        """
        Find one instance's metric by paging ``/overall``; ``None`` while it is not listed.

        :param created_after: a time before the instance was created, to narrow the search;
            ``None`` reads the whole history of the workflow.
        :param within: seconds the caller can spare: retries take no pause that would end after them.
        """
        return self.client.find_instance_metric(
            workflow_alias, instance_id, created_after=created_after, within=within
        )

    def narrow_to_created_on(self, instance_id: str, created_on: datetime) -> None:
        """
        Tell when Domo created an instance (its start answer's ``createdOn``), so that this hook's
        searches for it read only that moment of the workflow's history.
        """
        self.client.pins.seed(instance_id, created_on)

    def cancel_instance(
        self,
        workflow_alias: str,
        instance_id: str,
        *,
        created_after: datetime | None = None,
        confirm_timeout: float = CANCEL_CONFIRM_SECONDS,
        poll_interval: float = CANCEL_POLL_SECONDS,
    ) -> InstanceMetric | None:
        """
        Cancel one instance and confirm it, by polling, within ``confirm_timeout`` seconds.

        Domo's answer to a cancel carries the status from before the cancel, so it proves nothing.
        An instance that has already ended is left as it is. Returns the instance's last metric
        (CANCELED once confirmed, or how it ended if it ended first), or ``None`` if it was never
        listed in that time.
        """
        try:
            self.client.cancel_instance(instance_id)
        except DomoApiError as error:
            if not _refused_as_ended(error):
                raise
        deadline = time.monotonic() + confirm_timeout
        while True:
            metric = self.find_instance_metric(workflow_alias, instance_id, created_after=created_after)
            if (metric is not None and metric.status.is_terminal) or time.monotonic() >= deadline:
                return metric
            time.sleep(poll_interval)

    async def acancel_instance(
        self,
        workflow_alias: str,
        instance_id: str,
        *,
        created_after: datetime | None = None,
        confirm_timeout: float = CANCEL_CONFIRM_SECONDS,
        poll_interval: float = CANCEL_POLL_SECONDS,
    ) -> InstanceMetric | None:
        """The asynchronous twin of :meth:`cancel_instance`, for a trigger's ``on_kill``."""
        async with await self.aget_async_client() as client:
            try:
                await client.cancel_instance(instance_id)
            except DomoApiError as error:
                if not _refused_as_ended(error):
                    raise
            deadline = time.monotonic() + confirm_timeout
            while True:
                metric = await client.find_instance_metric(
                    workflow_alias, instance_id, created_after=created_after
                )
                if (metric is not None and metric.status.is_terminal) or time.monotonic() >= deadline:
                    return metric
                await asyncio.sleep(poll_interval)

    def instance_url(self, model_id: str | None, version: str | None, instance_id: str) -> str | None:
        """The instance's page in Domo's UI, or ``None`` without a model id and version to build it."""
        if not model_id or not version:
            return None
        return f"{self.config.base_url}/workflows/instances/{model_id}/{version}/{instance_id}"

    def test_connection(self) -> tuple[bool, str]:
        """
        Check that Domo is reachable and accepts the token; answer Airflow's (ok, message) pair.

        The message is one line, as the UI shows it in a toast (the client's errors fold Domo's own text
        onto one line): a bad field, an unreachable host, a refused token (401) or a missing grant
        (403), each with its fix and never with a secret.
        """
        try:
            self.client.probe()
        except (DomoWorkflowsError, ValueError, AirflowNotFoundException) as error:
            return False, str(error)
        return True, f"Connected to Domo Workflows at {self.config.base_url}{self.config.api_root}."
