"""The FastAPI app of the Domo Workflows emulator: Domo's routes and JSON over an :class:`EmulatorState`.

Pending statuses are encoded two ways, as Domo's documentation shows them: the string ``"null"`` in
answers shaped as an instance (start, cancel, one instance) and JSON null in ``/overall`` metrics.

The answers of Domo's routes can carry the faults of the state's :class:`FaultPlan` (errors, 429s,
dropped connections, slow or malformed answers); see :class:`_FaultMiddleware`.

Besides the developer token, Domo's routes accept OAuth access tokens from ``/oauth/token``, the
client-credentials endpoint Domo serves at ``https://api.domo.com/oauth/token``; see :func:`_oauth_router`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import email.utils
import hmac
import html
import json
import math
import secrets
import string
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_domo_workflows.emulator.state import (
    CANCELED,
    LISTED_STATES,
    EmulatorError,
    EmulatorState,
    FaultPlan,
    InjectedFault,
    InstanceRoutes,
    InstanceSnapshot,
    InvalidClientError,
    RequestRecord,
    UnknownInstanceError,
    UnknownWorkflowError,
    WorkflowSpec,
    add_two_numbers,
    format_epoch_ms,
)

API_ROOTS = ("/api/workflow/v1", "/domo/workflow/v1")
ADMIN_PREFIX = "/_emulator"
# Paths that need no Domo token: the admin routes, the token endpoint and the stand-in instance pages.
_OPEN_PREFIXES = (ADMIN_PREFIX, "/oauth/", "/workflows/")
TOKEN_HEADER = "X-DOMO-Developer-Token"
TOKEN_PATH = "/oauth/token"
# The fixed identity fields of Domo's token answer; the emulator has one customer and one user.
OAUTH_IDENTITY: dict[str, Any] = {"customer": "emulator", "env": "prod", "userId": 27, "role": "Admin"}
INVALID_TOKEN_MESSAGE = "The access token is invalid or has expired."
NO_GRANT_MESSAGE = "The user does not have permission to perform this action."
DEFAULT_PAGE_LIMIT = 100
FAULT_SCOPE_KEY = "domo_emulator.fault"

_COMPUTES: dict[str, Callable[[dict[str, Any]], object]] = {"add_two_numbers": add_two_numbers}
_STATUS_SYNONYMS = {"CANCELLED": CANCELED}
_TOE_ALPHABET = string.ascii_uppercase + string.digits
_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
# A header name with a space in it is invalid, so the server refuses to write the answer it starts.
_UNWRITABLE_HEADER = (b"x-emulator dropped", b"1")


class DomoAPIError(Exception):
    """An error the emulator answers with Domo's error body.

    :param status_code: the HTTP status of the answer.
    :param message: the ``message`` of the body; never put a token in it.
    :param headers: extra headers of the answer, e.g. ``Allow`` on a 405.
    """

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = dict(headers or {})


def new_toe() -> str:
    """Return a random trace id shaped like the ``toe`` Domo puts in its error bodies."""
    chars = "".join(secrets.choice(_TOE_ALPHABET) for _ in range(20))
    return f"{chars[:10]}-{chars[10:15]}-{chars[15:]}"


def domo_error_response(
    status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Return Domo's error body: ``status``, ``statusReason``, ``message`` and a fresh ``toe``."""
    body = {
        "status": status_code,
        "statusReason": HTTPStatus(status_code).phrase,
        "message": message,
        "toe": new_toe(),
    }
    return JSONResponse(body, status_code=status_code, headers=headers)


def oauth_error_response(
    status_code: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Return the OAuth 2 error body Domo's token endpoint answers: ``error`` and ``error_description``.

    Never put a secret or a token in ``description``.
    """
    # RFC 6749 section 5.1: token answers, errors included, must not be cached.
    no_store = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status_code, headers=no_store
    )


def _optional_time(epoch_ms: int | None) -> str | None:
    return None if epoch_ms is None else format_epoch_ms(epoch_ms)


def instance_json(instance: InstanceSnapshot) -> dict[str, Any]:
    """Render an instance as Domo's start answer does, with a pending status as the string ``"null"``."""
    return {
        "id": instance.instance_id,
        "modelId": instance.model_id,
        "modelName": instance.model_name,
        "modelVersion": instance.version,
        "createdBy": instance.created_by,
        "createdOn": format_epoch_ms(instance.created_ms),
        "updatedBy": instance.created_by,
        "updatedOn": format_epoch_ms(instance.updated_ms),
        "status": "null" if instance.status is None else instance.status,
    }


def cancel_json(instance: InstanceSnapshot) -> dict[str, Any]:
    """Render a cancel answer: the instance plus the deployment fields of the product API."""
    deployment_id = uuid.uuid5(uuid.NAMESPACE_URL, f"domo-workflows/{instance.model_id}/{instance.version}")
    return {
        **instance_json(instance),
        "deploymentId": str(deployment_id),
        "bpmnProcessId": f"Process_{deployment_id.hex[:7]}",
        "bpmnProcessName": instance.model_name,
        "isTestRun": False,
    }


def metric_json(instance: InstanceSnapshot) -> dict[str, Any]:
    """Render one ``instanceMetric`` entry of ``/overall``, with a pending status as JSON null."""
    return {
        "instanceId": instance.instance_id,
        "modelId": instance.model_id,
        "version": instance.version,
        "creatorId": instance.created_by,
        "workflowStartTime": _optional_time(instance.start_ms),
        "workflowEndTime": _optional_time(instance.end_ms),
        "workflowCancelTime": _optional_time(instance.cancel_ms),
        "workflowCycleTime": instance.cycle_ms,
        "status": instance.status,
    }


def admin_instance_json(instance: InstanceSnapshot) -> dict[str, Any]:
    """Render an instance for the admin routes, with its parameters, result and error."""
    try:
        result = jsonable_encoder(instance.result)
    except (TypeError, ValueError):
        result = repr(instance.result)
    return {
        "id": instance.instance_id,
        "alias": instance.alias,
        "modelId": instance.model_id,
        "version": instance.version,
        "status": instance.status,
        "parameters": instance.parameters,
        "result": result,
        "error": instance.error,
        "createdOn": format_epoch_ms(instance.created_ms),
        "updatedOn": format_epoch_ms(instance.updated_ms),
        "fromApi": instance.from_api,
    }


def parse_statuses(values: list[str] | None) -> set[str] | None:
    """Read ``/overall``'s repeatable, comma-separated, case-insensitive ``status`` filter.

    :raises DomoAPIError: 400 when a value is not a listed status.
    """
    if not values:
        return None
    statuses: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().upper()
            if not name:
                continue
            name = _STATUS_SYNONYMS.get(name, name)
            if name not in LISTED_STATES:
                raise DomoAPIError(
                    400, f"Unknown status {part.strip()!r}; use one of {sorted(LISTED_STATES)}."
                )
            statuses.add(name)
    return statuses or None


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise DomoAPIError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise DomoAPIError(400, "The request body must be a JSON object.")
    return body


def is_api_path(path: str) -> bool:
    """Return whether ``path`` is under one of Domo's API roots (not an admin route, not the UI page)."""
    return any(path == root or path.startswith(root + "/") for root in API_ROOTS)


def retry_after_value(plan: FaultPlan) -> str:
    """Return the ``Retry-After`` header of a rate-limited answer: seconds, or an HTTP date."""
    if plan.retry_after_http_date:
        # Rounding the wall clock up keeps the date at least the delay away despite its whole seconds.
        return email.utils.formatdate(math.ceil(time.time()) + plan.retry_after_seconds, usegmt=True)
    return str(plan.retry_after_seconds)


def truncated_json(body: bytes) -> bytes:
    """Cut a JSON answer in half so that it no longer parses; a short or still-valid cut gives ``{"``."""
    cut = body[: len(body) // 2]
    if cut:
        try:
            json.loads(cut)
        except ValueError:
            return cut
    return b'{"'


def fault_answer(fault: InjectedFault) -> Response:
    """Return the answer that replaces the route's on ``server_error``, ``rate_limited``, ``html_error``."""
    if fault.kind == "html_error":
        return HTMLResponse(_GATEWAY_PAGE, status_code=502)
    if fault.kind == "rate_limited":
        seconds = fault.plan.retry_after_seconds
        response = domo_error_response(429, f"Too many requests; retry after {seconds} seconds.")
        response.headers["Retry-After"] = retry_after_value(fault.plan)
        return response
    status_code = fault.status_code or 500
    return domo_error_response(
        status_code, f"The emulator injected a {status_code} {HTTPStatus(status_code).phrase} fault."
    )


async def drop_connection(send: Send) -> None:
    """Make the server close the connection without writing a byte of an answer.

    An ASGI app cannot close its connection itself, and a server answers 500 for an app that fails or
    returns before starting its answer. So this starts an answer with an invalid header name: uvicorn (with
    httptools or h11) marks the answer started, then refuses to write it and raises; once the app returns
    with the answer started but not complete, uvicorn closes the connection (and logs an error). The
    client sees the server disconnect without a response: httpx raises ``httpx.RemoteProtocolError``
    ("Server disconnected without sending a response."). A server that wrote the header anyway would still
    close the connection mid-answer.
    """
    with contextlib.suppress(Exception):
        await send({"type": "http.response.start", "status": 502, "headers": [_UNWRITABLE_HEADER]})


def _delayed(send: Send, seconds: float) -> Send:
    async def send_later(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return send_later


class _FaultMiddleware:
    """Inject the faults of the state's :class:`FaultPlan` into the answers of Domo's routes.

    The fault is drawn before the request reaches the router. ``server_error``, ``rate_limited``,
    ``dropped`` and ``html_error`` are answered here and the route never runs; ``slow`` and
    ``malformed_json`` let the route run and then delay or rewrite its answer. The admin routes and the UI
    page are never faulted. The kind of an injected fault is left in the scope for the request log.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        fault = self.state.draw_fault(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return

        scope[FAULT_SCOPE_KEY] = fault.kind
        if fault.kind == "dropped":
            await drop_connection(send)
        elif fault.kind == "slow":
            await self.app(scope, receive, _delayed(send, fault.plan.slow_seconds))
        elif fault.kind == "malformed_json":
            await self._malformed(scope, receive, send)
        else:
            await fault_answer(fault)(scope, receive, send)

    async def _malformed(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()

        async def keep_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, keep_body)
        answer = Response(truncated_json(bytes(body)), status_code=200, media_type="application/json")
        await answer(scope, receive, send)


class _RequestLogMiddleware:
    """Log each API request with its answer's status and size; admin routes are left out."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return

        status_code = 0
        response_bytes = 0

        async def send_and_measure(message: Message) -> None:
            nonlocal status_code, response_bytes
            if message["type"] == "http.response.start":
                status_code = message["status"]
            elif message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_measure)
        finally:
            # The router stores the matched route in the shared scope, which gives a template per route;
            # the fault middleware stores the injected fault there too.
            route = scope.get("route")
            fault = scope.get(FAULT_SCOPE_KEY)
            self.state.record_request(
                RequestRecord(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    # A dropped request started an answer that was never written.
                    status_code=0 if fault == "dropped" else status_code,
                    response_bytes=response_bytes,
                    route=getattr(route, "path", None),
                    fault=fault,
                )
            )


class WorkflowBody(BaseModel):
    """The admin body that deploys a workflow: :class:`WorkflowSpec`'s fields, ``compute`` named."""

    model_config = ConfigDict(extra="forbid")

    alias: str = Field(min_length=1)
    model_id: str | None = None
    name: str | None = None
    version: str = "1.0.0"
    message_name: str | None = None
    pending_seconds: float = Field(default=0.5, ge=0)
    run_seconds: float = Field(default=2.0, ge=0)
    outcome: Literal["COMPLETED", "FAILED", "CANCELED"] = "COMPLETED"
    compute: Literal["add_two_numbers"] | None = None

    def to_spec(self) -> WorkflowSpec:
        """Build the spec; a missing model id is derived from the alias, a missing name is the alias."""
        model_id = self.model_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"domo-workflows/{self.alias}"))
        return WorkflowSpec(
            alias=self.alias,
            model_id=model_id,
            name=self.name or self.alias,
            version=self.version,
            message_name=self.message_name or "",
            pending_seconds=self.pending_seconds,
            run_seconds=self.run_seconds,
            outcome=self.outcome,
            compute=None if self.compute is None else _COMPUTES[self.compute],
        )


class HistoryBody(BaseModel):
    """The admin body that adds past instances to a workflow."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, le=1_000_000)
    seed: int = 0


class FinishBody(BaseModel):
    """The admin body that forces an instance into an end state."""

    model_config = ConfigDict(extra="forbid")

    status: str


class FaultPlanBody(BaseModel):
    """The admin body that sets the fault plan: :class:`FaultPlan`'s fields, each defaulting as there."""

    model_config = ConfigDict(extra="forbid")

    server_error: float | None = None
    rate_limited: float | None = None
    dropped: float | None = None
    slow: float | None = None
    html_error: float | None = None
    malformed_json: float | None = None
    seed: int | None = None
    retry_after_seconds: int | None = None
    retry_after_http_date: bool | None = None
    slow_seconds: float | None = None
    only_methods: list[str] | None = None
    only_paths_containing: str | None = None

    def to_plan(self) -> FaultPlan:
        """Build the plan; it refuses invalid rates with a ValueError, which the app answers with 400."""
        fields = self.model_dump(exclude_none=True)
        if "only_methods" in fields:
            fields["only_methods"] = frozenset(fields["only_methods"])
        return FaultPlan(**fields)


def fault_plan_json(plan: FaultPlan) -> dict[str, Any]:
    """Render a fault plan for the admin routes, with ``only_methods`` as a sorted list."""
    fields = dataclasses.asdict(plan)
    fields["only_methods"] = None if plan.only_methods is None else sorted(plan.only_methods)
    return fields


def workflow_json(spec: WorkflowSpec) -> dict[str, Any]:
    """Render a workflow spec for the admin routes."""
    return {
        "alias": spec.alias,
        "model_id": spec.model_id,
        "name": spec.name,
        "version": spec.version,
        "message_name": spec.message_name,
        "pending_seconds": spec.pending_seconds,
        "run_seconds": spec.run_seconds,
        "outcome": spec.outcome,
        "has_compute": spec.compute is not None,
    }


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: bearer <token>`` header (scheme in any case), else None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def authenticate(state: EmulatorState, token: str | None, authorization: str | None) -> None:
    """Refuse a request without an accepted developer or bearer token (401), or without grants (403)."""
    # A developer token, when sent, decides alone: a wrong one is refused even beside a good bearer
    # token, so a client that sends both by mistake finds out.
    if token is not None:
        if token in state.tokens_without_grants:
            raise DomoAPIError(403, NO_GRANT_MESSAGE)
        if not hmac.compare_digest(token.encode(), state.token.encode()):
            raise DomoAPIError(401, INVALID_TOKEN_MESSAGE)
        return
    access_token = bearer_token(authorization)
    if access_token is None:
        raise DomoAPIError(401, f"Missing {TOKEN_HEADER} header or Authorization: bearer token.")
    if not state.token_is_valid(access_token):
        raise DomoAPIError(401, INVALID_TOKEN_MESSAGE)


def _api_router(state: EmulatorState) -> APIRouter:
    def require_token(
        token: Annotated[str | None, Header(alias=TOKEN_HEADER)] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        authenticate(state, token, authorization)

    def require_instance_routes(request: Request) -> None:
        # Authentication runs first, as Domo's security filters run before its routing.
        mode: InstanceRoutes = state.instance_routes
        if mode == "404":
            raise DomoAPIError(404, f"No route matches {request.method} {request.url.path}.")
        if mode == "405":
            # A 405 means the path maps to another method; POST is the only other one Domo's routes use.
            raise DomoAPIError(
                405, f"Request method '{request.method}' is not supported.", headers={"Allow": "POST"}
            )

    router = APIRouter(dependencies=[Depends(require_token)])

    @router.post("/models/{workflow}/start")
    async def start(workflow: str, request: Request) -> JSONResponse:
        params = await _json_object(request)
        return JSONResponse(instance_json(state.start(workflow, params)))

    @router.get("/models/{workflow}/overall")
    def overall(
        workflow: str,
        limit: Annotated[int | None, Query(ge=0)] = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        after: int | None = None,
        until: int | None = None,
        status: Annotated[list[str] | None, Query()] = None,
    ) -> JSONResponse:
        result = state.overall(
            workflow,
            limit=DEFAULT_PAGE_LIMIT if limit is None else limit,
            offset=offset,
            after_ms=after,
            until_ms=until,
            statuses=parse_statuses(status),
        )
        return JSONResponse(
            {
                "modelId": result.model_id,
                "version": result.version,
                "completedWorkflows": result.completed,
                "inProgressWorkflows": result.in_progress,
                "failedWorkflows": result.failed,
                "canceledWorkflows": result.canceled,
                "averageCycleTime": result.average_cycle_ms,
                "instanceMetric": [metric_json(instance) for instance in result.page],
            }
        )

    @router.get("/models/{workflow}/instance/{instance_id}", dependencies=[Depends(require_instance_routes)])
    def workflow_instance(workflow: str, instance_id: str) -> JSONResponse:
        spec = state.workflow(workflow)
        instance = state.instance(instance_id)
        if instance.alias != spec.alias:
            raise UnknownInstanceError(f"Instance {instance_id} was not found in workflow {workflow!r}.")
        return JSONResponse(instance_json(instance))

    @router.post("/instances/message")
    async def start_message(request: Request) -> JSONResponse:
        body = await _json_object(request)
        for name in ("messageName", "version", "modelId", "data"):
            if name not in body or body[name] is None:
                raise DomoAPIError(400, f"Missing required field {name!r}.")
        for name in ("messageName", "version", "modelId"):
            if not isinstance(body[name], str):
                raise DomoAPIError(400, f"Field {name!r} must be a string.")
        if not isinstance(body["data"], dict):
            raise DomoAPIError(400, "Field 'data' must be a JSON object.")
        instance = state.start_message(body["messageName"], body["version"], body["modelId"], body["data"])
        return JSONResponse(instance_json(instance))

    @router.post("/instances/{instance_id}/cancel")
    def cancel(instance_id: str) -> JSONResponse:
        return JSONResponse(cancel_json(state.cancel(instance_id)))

    @router.get("/instances/{instance_id}", dependencies=[Depends(require_instance_routes)])
    def instance(instance_id: str) -> JSONResponse:
        return JSONResponse(instance_json(state.instance(instance_id)))

    return router


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """Return the ``(client_id, client_secret)`` of an ``Authorization: Basic`` header, else None.

    :raises InvalidClientError: when the header says Basic but does not decode to ``id:secret``.
    """
    if authorization is None:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClientError("Bad credentials") from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        raise InvalidClientError("Bad credentials")
    return client_id, client_secret


async def _token_parameters(request: Request) -> dict[str, str]:
    """Merge the token request's query string and its form body; a form field wins over the query.

    Domo's documentation shows ``grant_type`` and ``scope`` in a GET's query string, standard OAuth 2
    sends them in a POST's ``application/x-www-form-urlencoded`` body. Only the body may carry
    ``client_id`` and ``client_secret``: credentials in a URL end up in logs.
    """
    parameters = {
        name: value for name, value in request.query_params.items() if name in ("grant_type", "scope")
    }
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        body = await request.body()
        try:
            fields = urllib.parse.parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
            )
        except (UnicodeDecodeError, ValueError):
            raise DomoAPIError(400, "The form body is not valid UTF-8 form data.") from None
        parameters.update(fields)
    return parameters


def _oauth_router(state: EmulatorState) -> APIRouter:
    """Domo's client-credentials token endpoint, served at the server's root as on ``api.domo.com``."""
    router = APIRouter()

    @router.api_route(TOKEN_PATH, methods=["GET", "POST"])
    async def token(request: Request) -> JSONResponse:
        parameters = await _token_parameters(request)
        # Domo authenticates the client before it reads the grant, as Spring Security's filters do, so bad
        # credentials answer 401 whatever the grant type.
        try:
            credentials = _basic_credentials(request.headers.get("authorization"))
            if credentials is None:
                credentials = (parameters.get("client_id", ""), parameters.get("client_secret", ""))
            client_id, client_secret = credentials
            state.authenticate_client(client_id, client_secret)
        except InvalidClientError:
            return oauth_error_response(
                401, "invalid_client", "Bad credentials", headers={"WWW-Authenticate": 'Basic realm="oauth"'}
            )
        grant_type = parameters.get("grant_type")
        if not grant_type:
            return oauth_error_response(400, "invalid_request", "Missing grant type")
        if grant_type != "client_credentials":
            return oauth_error_response(
                400, "unsupported_grant_type", "Unsupported grant type; use client_credentials"
            )
        issued = state.issue_token(client_id, client_secret, scope=parameters.get("scope", ""))
        return JSONResponse(
            {
                "access_token": issued.access_token,
                "token_type": "bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
                **OAUTH_IDENTITY,
                "jti": issued.jti,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return router


class SettingsBody(BaseModel):
    """The admin body that changes the state's settings; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid")

    instance_routes: Literal["on", "404", "405"] | None = None
    token_lifetime_seconds: int | None = Field(default=None, ge=1)


def settings_json(state: EmulatorState) -> dict[str, Any]:
    """Render the settings the admin ``/settings`` routes read and change."""
    return {
        "instance_routes": state.instance_routes,
        "token_lifetime_seconds": state.token_lifetime_seconds,
    }


def _admin_router(state: EmulatorState) -> APIRouter:
    router = APIRouter(prefix=ADMIN_PREFIX)

    @router.get("/instances")
    def list_instances() -> JSONResponse:
        return JSONResponse({"instances": [admin_instance_json(i) for i in state.instances()]})

    @router.get("/instances/{instance_id}")
    def get_instance(instance_id: str) -> JSONResponse:
        return JSONResponse(admin_instance_json(state.instance(instance_id)))

    @router.post("/instances/{instance_id}/finish")
    def finish_instance(instance_id: str, body: FinishBody) -> JSONResponse:
        return JSONResponse(admin_instance_json(state.finish(instance_id, body.status)))

    @router.get("/workflows")
    def list_workflows() -> JSONResponse:
        return JSONResponse({"workflows": [workflow_json(spec) for spec in state.workflows()]})

    @router.post("/workflows")
    def add_workflow(body: WorkflowBody) -> JSONResponse:
        spec = body.to_spec()
        state.add_workflow(spec)
        return JSONResponse(workflow_json(spec))

    @router.post("/workflows/{alias}/history")
    def add_history(alias: str, body: HistoryBody) -> JSONResponse:
        state.add_history(alias, body.count, seed=body.seed)
        return JSONResponse({"alias": state.workflow(alias).alias, "added": body.count})

    @router.post("/reset")
    def reset() -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True})

    @router.get("/requests")
    def requests() -> JSONResponse:
        log = state.request_log
        return JSONResponse(
            {
                "total": len(log),
                "byRoute": state.request_counts(),
                "requests": [
                    {
                        "method": r.method,
                        "path": r.path,
                        "query": r.query,
                        "status": r.status_code,
                        "responseBytes": r.response_bytes,
                        "route": r.route,
                        "fault": r.fault,
                    }
                    for r in log
                ],
            }
        )

    @router.get("/faults")
    def get_faults() -> JSONResponse:
        return JSONResponse(faults_json())

    @router.post("/faults")
    def set_faults(body: FaultPlanBody | None = None) -> JSONResponse:
        state.faults = FaultPlan() if body is None else body.to_plan()
        return JSONResponse(faults_json())

    def faults_json() -> dict[str, Any]:
        with state.lock:
            return {"plan": fault_plan_json(state.faults), "counts": state.fault_counts()}

    @router.get("/settings")
    def get_settings() -> JSONResponse:
        return JSONResponse(settings_json(state))

    @router.post("/settings")
    def set_settings(body: SettingsBody | None = None) -> JSONResponse:
        # The body is validated as a whole before anything changes, so a refused body changes nothing.
        with state.lock:
            if body is not None and body.instance_routes is not None:
                state.instance_routes = body.instance_routes
            if body is not None and body.token_lifetime_seconds is not None:
                state.token_lifetime_seconds = body.token_lifetime_seconds
            return JSONResponse(settings_json(state))

    @router.post("/oauth/revoke")
    def revoke_tokens() -> JSONResponse:
        return JSONResponse({"revoked": state.revoke_tokens()})

    return router


def _ui_router(state: EmulatorState) -> APIRouter:
    """The one page of Domo's UI the provider links to: an instance's page."""
    router = APIRouter(include_in_schema=False)

    @router.get("/workflows/instances/{model_id}/{version}/{instance_id}", response_class=HTMLResponse)
    def instance_page(model_id: str, version: str, instance_id: str) -> HTMLResponse:
        snapshot = state.instance(instance_id)
        if (snapshot.model_id, snapshot.version) != (model_id, version):
            raise UnknownInstanceError(f"No instance {instance_id} of model {model_id} version {version}.")
        rows = {
            "Workflow": f"{snapshot.model_name} {snapshot.version} ({snapshot.model_id})",
            "Instance": snapshot.instance_id,
            "Status": snapshot.status or "not started yet",
            "Parameters": json.dumps(snapshot.parameters),
            "Result": json.dumps(snapshot.result, default=str),
        }
        cells = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows.items()
        )
        return HTMLResponse(f"<!doctype html><title>Domo Workflows emulator</title><table>{cells}</table>")

    return router


def _status_for(exc: EmulatorError) -> int:
    # Domo answers 404 for anything the token's user cannot see, and 400 for a request it refuses.
    return 404 if isinstance(exc, UnknownWorkflowError | UnknownInstanceError) else 400


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location or 'body'}: {error.get('msg', 'invalid value')}")
    return "Invalid request: " + "; ".join(problems) + "."


def create_app(state: EmulatorState) -> FastAPI:
    """Build the emulator's app over ``state``.

    Domo's routes are served under both ``/api/workflow/v1`` (the instance host) and
    ``/domo/workflow/v1`` (inside apps) and need the ``X-DOMO-Developer-Token`` header or an
    ``Authorization: bearer`` token from ``GET`` or ``POST /oauth/token``; the admin routes under
    ``/_emulator`` need no token. Every error answers Domo's body
    ``{"status", "statusReason", "message", "toe"}``, validation errors included (400, never 422), except
    the token endpoint's, which answer OAuth's ``{"error", "error_description"}`` as Domo's does.

    ``POST /_emulator/settings`` changes :attr:`~EmulatorState.instance_routes` and
    :attr:`~EmulatorState.token_lifetime_seconds`, ``GET /_emulator/settings`` shows them, and
    ``POST /_emulator/oauth/revoke`` revokes every issued token.

    The state's :attr:`~EmulatorState.faults` apply to Domo's routes only; ``POST /_emulator/faults`` sets
    them (an empty body removes them) and ``GET /_emulator/faults`` shows them with their counts.

    .. note::
        Canceling an instance that has already ended answers 400 and leaves the instance as it is.
    """
    app = FastAPI(title="Domo Workflows emulator", docs_url=None, redoc_url=None, openapi_url=None)

    api_router = _api_router(state)
    for root in API_ROOTS:
        app.include_router(api_router, prefix=root)
    app.include_router(_oauth_router(state))
    app.include_router(_admin_router(state))
    app.include_router(_ui_router(state))

    @app.exception_handler(DomoAPIError)
    async def handle_domo_error(request: Request, exc: DomoAPIError) -> JSONResponse:
        return domo_error_response(exc.status_code, exc.message, exc.headers)

    @app.exception_handler(EmulatorError)
    async def handle_emulator_error(request: Request, exc: EmulatorError) -> JSONResponse:
        return domo_error_response(_status_for(exc), str(exc))

    @app.exception_handler(ValueError)
    async def handle_value_error(request: Request, exc: ValueError) -> JSONResponse:
        return domo_error_response(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def handle_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return domo_error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def handle_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            if not request.url.path.startswith(_OPEN_PREFIXES):
                # Domo's security filters run before its routing: an unknown path is refused a bad token
                # too, so a client pointed at a wrong API root still learns that its token is wrong.
                try:
                    authenticate(
                        state, request.headers.get(TOKEN_HEADER), request.headers.get("authorization")
                    )
                except DomoAPIError as refused:
                    return domo_error_response(refused.status_code, refused.message)
            message = f"No route matches {request.method} {request.url.path}."
        else:
            message = str(exc.detail)
        # Starlette's 405 carries the route's Allow header; keep it.
        return domo_error_response(exc.status_code, message, exc.headers)

    # The middleware added last runs first: the log sees the answers the faults make.
    app.add_middleware(_FaultMiddleware, state=state)
    app.add_middleware(_RequestLogMiddleware, state=state)
    return app
