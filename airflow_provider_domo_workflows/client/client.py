"""A small typed client for Domo's Workflows API; it knows nothing of Airflow."""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import time
import uuid
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from airflow_provider_domo_workflows.client.auth import auth_settings
from airflow_provider_domo_workflows.client.config import (
    READ_INSTANCE,
    READ_MODEL_INSTANCE,
    DomoConnectionConfig,
    check_version,
)
from airflow_provider_domo_workflows.client.errors import (
    DomoApiError,
    DomoRequestError,
    DomoWorkflowsError,
    retry_after_seconds,
)
from airflow_provider_domo_workflows.client.models import (
    InstanceMetric,
    WorkflowInstance,
    WorkflowMetrics,
    as_utc,
)
from airflow_provider_domo_workflows.client.retry import RetryPolicy

DEFAULT_PAGE_SIZE = 200
# An instance search narrowed with ``after`` starts this long before the instance's creation, so that
# clock differences between Airflow and Domo cannot hide it.
CLOCK_SKEW_MARGIN = timedelta(minutes=10)
# A window ended after an instance's start time (Domo's own clock, so no skew) ends this much later.
PIN_MARGIN = timedelta(seconds=1)
# A guard against a server that ignores ``offset`` and would otherwise be paged forever.
MAX_PAGES = 10_000
_EXCERPT_CHARS = 200
# Domo's documented limit on one workflow variable.
MAX_VARIABLE_BYTES = 1024 * 1024
_HINTS = {
    401: "Check the connection's password: the developer access token is missing, wrong or expired.",
    403: "The token's user lacks a grant: Execute on the workflow to start it, View Instance Details to "
    "see its runs.",
    404: "The workflow, version or start message does not exist, or the token's user cannot see it; "
    "check the workflow alias and the connection's api_root.",
}
ModelT = TypeVar("ModelT", bound=BaseModel)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiRequest:
    """One request to the API, described without doing it, so the sync and async paths share it."""

    method: str
    path: str
    params: Mapping[str, str | int | list[str]] | None = None
    body: Mapping[str, Any] | None = None


def epoch_millis(moment: datetime) -> int:
    """Domo's ``after``/``until`` filters are longs; epoch milliseconds is the documented guess."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _segment(field: str, value: str) -> str:
    """URL-encode one path segment; refuse the values that would escape it (empty, ``.`` and ``..``)."""
    if not value or not value.strip() or value.strip() in (".", ".."):
        raise ValueError(f"{field} is {value!r}: give the workflow's alias or its model id.")
    return quote(value.strip(), safe="")


def check_instance_id(instance_id: object) -> str:
    """Return an instance id (a UUID) in canonical form, or raise ``ValueError`` naming ``instance_id``."""
    text = instance_id.strip() if isinstance(instance_id, str) else ""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(
            f"instance_id is {instance_id!r}: it must be a Domo workflow instance id, a UUID such as "
            "'2052e10a-d142-4391-a731-2be1ab1c0188' (the start task's XCom return_value)."
        ) from None


def cancel_request(instance_id: str) -> ApiRequest:
    """Describe the product API's cancel of one instance (``POST {api_root}/instances/{id}/cancel``)."""
    return ApiRequest("POST", f"/instances/{check_instance_id(instance_id)}/cancel")


def message_request(
    model_id: str, version: str, message_name: str, parameters: Mapping[str, Any] | str | None
) -> ApiRequest:
    """Describe the product API's start (``POST {api_root}/instances/message``), checking each field."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise ValueError(f"model_id is {model_id!r}: give the workflow's model id (a UUID).")
    if not isinstance(message_name, str) or not message_name.strip():
        raise ValueError(
            f"message_name is {message_name!r}: give the title of the workflow's start node, "
            "often 'Start <workflow name>'."
        )
    body = {
        "messageName": message_name.strip(),
        "version": check_version(version),
        "modelId": model_id.strip(),
        "data": serialise_parameters(parameters),
    }
    return ApiRequest("POST", "/instances/message", body=body)


# One-instance routes that proved unusable, by (base URL, API root, route): the waits of this process
# read /overall instead from then on.
_missing_routes: set[tuple[str, str, str]] = set()
# What says a one-instance route is not there: not found, not this method, not implemented.
_MISSING_ROUTE_STATUSES = (404, 405, 501)


def instance_request(
    config: DomoConnectionConfig, workflow_alias: str, instance_id: str
) -> ApiRequest | None:
    """The one-instance read the connection asks for, or ``None`` to search ``/overall`` instead."""
    if (config.base_url, config.api_root, config.instance_read) in _missing_routes:
        return None
    if config.instance_read == READ_INSTANCE:
        return ApiRequest("GET", f"/instances/{check_instance_id(instance_id)}")
    if config.instance_read == READ_MODEL_INSTANCE:
        workflow = _segment("workflow_alias", config.model_path(workflow_alias))
        return ApiRequest("GET", f"/models/{workflow}/instance/{check_instance_id(instance_id)}")
    return None


def direct_metric(answer: WorkflowInstance, instance_id: str, request: ApiRequest) -> InstanceMetric:
    """The metric of the instance a one-instance route answered, once it is the instance asked for."""
    with contextlib.suppress(ValueError):  # an id that is no UUID is not the one asked for
        if (
            check_instance_id(answer.id) == check_instance_id(instance_id)
            and "status" in answer.model_fields_set
        ):
            return answer.as_metric()
    # A proxy or a route that ignores its path, or one that tells no status: taking what it says would
    # end the wait on another run's outcome, or keep it waiting on a status never told.
    raise DomoApiError(
        status_code=200,
        method=request.method,
        path=request.path,
        hint=f"The answer is not the status of the instance asked for (id {answer.id!r}).",
    )


def route_unusable(config: DomoConnectionConfig, error: DomoApiError) -> bool:
    """
    Whether a one-instance read showed that the route cannot be used; if so, remember it.

    That is a 404, 405 or 501, or a successful answer that is not the instance asked for (not an
    instance as documented, not JSON, another instance). A 404 may also mean that this one instance
    is not visible there yet: either way ``/overall`` is the documented way to find it, and is used
    for this connection from now on. An answer cut short is not a sign: it is worth asking again.
    """
    odd_success = 200 <= error.status_code < 300 and not error.incomplete
    if error.status_code not in _MISSING_ROUTE_STATUSES and not odd_success:
        return False
    key = (config.base_url, config.api_root, config.instance_read)
    if key not in _missing_routes:
        _missing_routes.add(key)
        logger.warning(
            "%s answered %s (%s); reading instances from /overall for this connection from now on.",
            f"{error.method} {config.api_root}{error.path}",
            error.status_code,
            error,
        )
    return True


def serialise_parameters(parameters: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """
    Check start parameters and return them as a JSON object.

    Accepts a mapping or a JSON string of an object; raises ``ValueError`` naming ``parameters`` when
    the text is not JSON, not an object, or holds values that JSON cannot carry.
    """
    if parameters is None or parameters == "":
        return {}
    if isinstance(parameters, str):
        try:
            parameters = json.loads(parameters)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"parameters is not valid JSON ({error.msg} at line {error.lineno} column {error.colno}): "
                'give a JSON object such as {"a": 1, "b": 2}, or a dict.'
            ) from None
    if not isinstance(parameters, Mapping):
        raise ValueError(
            f"parameters must be a JSON object (a dict keyed by each start parameter's alias name), "
            f"not {type(parameters).__name__}."
        )
    odd_keys = [key for key in parameters if not isinstance(key, str)]
    if odd_keys:
        # JSON would turn them into strings silently, and could merge 1 and "1" into one parameter.
        raise ValueError(
            f"parameters has keys that are not strings: {odd_keys[:5]!r}; name each by its alias."
        )
    try:
        # A round trip through JSON proves the values can be sent and gives plain types back.
        # Encoded as httpx sends it: UTF-8, without ASCII escapes, so a lone surrogate fails here.
        encoded = json.dumps(dict(parameters), allow_nan=False, ensure_ascii=False)
        encoded.encode("utf-8")
        decoded: dict[str, Any] = json.loads(encoded)
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(
            f"parameters cannot be sent as JSON: {error}. Use strings, numbers, booleans, null, lists and "
            "dicts; convert dates with .isoformat()."
        ) from None
    for name, value in decoded.items():
        size = len(json.dumps(value).encode("utf-8"))
        if size > MAX_VARIABLE_BYTES:
            raise ValueError(
                f"parameters[{name!r}] is {size:,} bytes as JSON; Domo limits a workflow variable to 1 MB. "
                "Pass a reference (a dataset id or a file path) instead."
            )
    return decoded


def _excerpt(text: str, *secrets: str | None) -> str:
    # Mask before cutting, so that a token echoed near the cut cannot survive in part.
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())[:_EXCERPT_CHARS]


def _bearer_token(response: httpx.Response) -> str | None:
    """The OAuth access token the request carried, so that an answer echoing it does not show it."""
    try:
        authorization = response.request.headers.get("authorization", "")
    except RuntimeError:  # an answer built without its request
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def domo_error_document(response: httpx.Response) -> dict[str, Any] | None:
    """The body of an answer when it is Domo's error document (``statusReason``, ``message``, ``toe``)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested too deep to decode
        return None
    return body if isinstance(body, dict) and ({"statusReason", "message", "toe"} & body.keys()) else None


def api_error(
    response: httpx.Response, request: ApiRequest, secret: str, hint: str | None = None
) -> DomoApiError:
    """Describe an answer that is not what was asked for, with Domo's own fields when it sent them."""
    status_reason = domo_message = toe = excerpt = None
    secrets = (secret, _bearer_token(response))
    body = domo_error_document(response)
    if body is not None:
        status_reason = _text(body.get("statusReason"), *secrets)
        domo_message = _text(body.get("message"), *secrets)
        toe = _text(body.get("toe"), *secrets)
    elif response.content:
        excerpt = _excerpt(response.text, *secrets)
    if response.is_redirect and hint is None:
        location = _excerpt(response.headers.get("location", "?"), *secrets)
        hint = (
            f"Domo redirected to {location}: check the host's scheme (https://) and the connection's "
            "api_root."
        )
    return DomoApiError(
        status_code=response.status_code,
        method=request.method,
        path=request.path,
        status_reason=status_reason or _text(response.reason_phrase or None, *secrets),
        domo_message=domo_message,
        toe=toe,
        body_excerpt=excerpt,
        hint=hint or _HINTS.get(response.status_code),
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


def _text(value: object, *secrets: str | None) -> str | None:
    return None if value is None else _excerpt(str(value), *secrets)


def read_json(response: httpx.Response, request: ApiRequest, secret: str) -> Any:
    """The JSON body of a successful answer, or a :class:`DomoApiError` that says what was wrong."""
    if not response.is_success:
        raise api_error(response, request, secret)
    try:
        return response.json()
    except ValueError:
        pass
    except RecursionError:
        raise api_error(
            response, request, secret, hint="The answer's JSON is nested too deep to read."
        ) from None
    if "json" in response.headers.get("content-type", "").lower():
        # Announced as JSON but cut short: a connection lost mid-answer, worth asking again.
        error = api_error(response, request, secret, hint="The answer's JSON is incomplete.")
        error.incomplete = True
        raise error
    raise api_error(
        response,
        request,
        secret,
        hint="The answer is not JSON: check that host and api_root point at Domo's Workflows API.",
    )


def validate(data: Any, model: type[ModelT], response: httpx.Response, request: ApiRequest) -> ModelT:
    """Check a JSON body against a model; a :class:`DomoApiError` names the fields that do not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise DomoApiError(
            status_code=response.status_code,
            method=request.method,
            path=request.path,
            hint=f"The answer is not a {model.__name__} as documented ({_problems(error)}).",
        ) from None


def _problems(error: ValidationError) -> str:
    """The first few fields that did not fit, without their values (which could be large or secret)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'body'}: {issue['msg']}"
        for issue in error.errors(include_input=False, include_url=False)[:5]
    )


def parse_answer(response: httpx.Response, request: ApiRequest, model: type[ModelT], secret: str) -> ModelT:
    """Turn an HTTP answer into a typed model, or raise a :class:`DomoApiError` that says what was wrong."""
    return validate(read_json(response, request, secret), model, response, request)


def parse_started_instance(response: httpx.Response, request: ApiRequest, secret: str) -> WorkflowInstance:
    """
    Read a start's answer, keeping the instance whenever its id can be read.

    Domo accepted the start once it answered 2xx: an odd field elsewhere must not lose the instance
    (and so lead to a second start), so only ``id`` is required here.
    """
    data = read_json(response, request, secret)
    try:
        return validate(data, WorkflowInstance, response, request)
    except DomoApiError:
        if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"].strip():
            return WorkflowInstance(id=data["id"].strip())
        raise


# Yield requests, are sent each answer's JSON body, return what they found.
InstanceSearch = Generator[ApiRequest, Any, InstanceMetric | None]
# What a read of several instances found of each: its metric, or the error that concerns it alone (its
# row is not as documented, its own one-instance read failed), never failing the others read beside it.
InstanceResult = InstanceMetric | DomoWorkflowsError
InstancesSearch = Generator[ApiRequest, Any, dict[str, InstanceResult]]


class DomoWorkflowsClient:
    """
    Synchronous client of Domo's Workflows API.

    :param config: where and how to reach Domo (see :class:`DomoConnectionConfig`).
    :param transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(self, config: DomoConnectionConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.retry = RetryPolicy(config.max_retries, config.retry_max_wait)
        self.pins = InstancePins()
        self._http = httpx.Client(**http_settings(config), transport=transport)

    def __enter__(self) -> DomoWorkflowsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def start_workflow(
        self, workflow_alias: str, parameters: Mapping[str, Any] | str | None
    ) -> WorkflowInstance:
        """
        Start one instance of a workflow and return it.

        An alias the connection's ``workflows`` extra maps is started through the product API's
        ``POST {api_root}/instances/message``; any other name through
        ``POST {api_root}/models/{alias}/start``.

        .. note:: Domo has no idempotency key: this request is never retried, and a timeout after it
           was sent means an instance may have started.
        """
        mapping = self.config.mapping(workflow_alias)
        if mapping is not None:
            return self.start_message(mapping.model_id, mapping.version, mapping.message_name, parameters)
        request = ApiRequest(
            "POST",
            f"/models/{_segment('workflow_alias', workflow_alias)}/start",
            body=serialise_parameters(parameters),
        )
        return self._start(request)

    def start_message(
        self, model_id: str, version: str, message_name: str, parameters: Mapping[str, Any] | str | None
    ) -> WorkflowInstance:
        """
        Start one instance through the product API (``POST {api_root}/instances/message``) and return it.

        :param model_id: the workflow's model id (a UUID).
        :param version: the deployed version to start, ``major.minor.patch``.
        :param message_name: the title of the workflow's start node, often ``Start <workflow name>``.
        """
        return self._start(message_request(model_id, version, message_name, parameters))

    def _start(self, request: ApiRequest) -> WorkflowInstance:
        response = self._send(request, may_have_started=True)
        try:
            instance = parse_started_instance(response, request, self.config.secret)
        except DomoApiError as error:
            # A gateway's 5xx, or a 2xx whose instance cannot be read, may hide a started instance; a 2xx
            # HTML page (a proxy's login page) never came from Domo.
            is_html = "html" in response.headers.get("content-type", "").lower()
            error.may_have_started = response.status_code >= 500 or (response.is_success and not is_html)
            raise
        if instance.created_on is not None:
            self.pins.seed(instance.id, instance.created_on)
        return instance

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
        """Read a workflow's metrics and one page of its instances (``GET .../models/{alias}/overall``)."""
        return self._call(
            metrics_request(self.config.model_path(workflow_alias), limit, offset, after, until, status),
            WorkflowMetrics,
        )

    def find_instance_metric(
        self,
        workflow_alias: str,
        instance_id: str,
        *,
        created_after: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        within: float | None = None,
    ) -> InstanceMetric | None:
        """
        One instance's metric; ``None`` when it is not listed (yet).

        It is read with the connection's one-instance route when ``instance_read`` names one that works,
        otherwise by paging ``/overall``.

        :param created_after: a time before the instance was created; narrows the search to the
            instances after it (less a margin for clock differences). ``None`` searches the whole history.
        :param page_size: instances asked for per page.
        :param within: seconds the caller can spare: retries take no pause that would end after them.
        """
        until = time.monotonic() + within if within is not None else None

        def left() -> float | None:
            return until - time.monotonic() if until is not None else None

        direct = instance_request(self.config, workflow_alias, instance_id)
        if direct is not None:
            try:
                return direct_metric(self._call(direct, WorkflowInstance, left()), instance_id, direct)
            except DomoApiError as error:
                if not route_unusable(self.config, error):
                    raise
        search = search_instance(
            self.config.model_path(workflow_alias),
            instance_id,
            created_after=created_after,
            page_size=page_size,
            pins=self.pins,
        )
        try:
            request = next(search)
            while True:
                request = search.send(self._read(request, left()))
        except StopIteration as done:
            result: InstanceMetric | None = done.value
            return result

    def cancel_instance(self, instance_id: str) -> WorkflowInstance:
        """
        Ask Domo to cancel one instance (``POST {api_root}/instances/{id}/cancel``).

        The answer's status is the one before the cancel took effect: poll until CANCELED to confirm.
        """
        return self._call(cancel_request(instance_id), WorkflowInstance)

    def probe(self) -> None:
        """
        Check that Domo is reachable and accepts the token, with one cheap authenticated request.

        It asks for the metrics of a workflow that cannot exist: Domo checks the token first (401),
        then answers 404 with its error document for the unknown workflow, which proves the token was
        accepted. A 200 must be a metrics document. Anything else is not Domo's Workflows API.
        """
        request = metrics_request("00000000-0000-0000-0000-000000000000", 1, None, None, None, None)
        response = self._send(request)
        document = domo_error_document(response)
        # Domo's error documents carry its trace id; a gateway's own 404 ({"message": ...}) does not.
        if response.status_code == 404 and document is not None and "toe" in document:
            return
        if response.status_code == 200:
            try:
                metrics = parse_answer(response, request, WorkflowMetrics, self.config.secret)
            except DomoApiError:
                pass
            else:
                if "instance_metric" in metrics.model_fields_set:
                    return
        hint = None
        if response.status_code == 404 or response.is_success:
            hint = "The answer is not Domo's: check that host and api_root point at Domo's Workflows API."
        raise api_error(response, request, self.config.secret, hint=hint)

    def _call(self, request: ApiRequest, model: type[ModelT], within: float | None = None) -> ModelT:
        """A read or a cancel, tried again under the retry policy (a start never comes here)."""
        return self.retry.call(
            lambda: parse_answer(self._send(request), request, model, self.config.secret), within
        )

    def _read(self, request: ApiRequest, within: float | None = None) -> Any:
        """One page's JSON, tried again under the retry policy."""
        return self.retry.call(lambda: read_json(self._send(request), request, self.config.secret), within)

    def _send(self, request: ApiRequest, *, may_have_started: bool = False) -> httpx.Response:
        url = self.config.api_root + request.path
        try:
            return self._http.request(request.method, url, params=request.params, json=request.body)
        except (httpx.RequestError, httpx.InvalidURL, UnicodeError) as error:
            failure = transport_error(error, request, self.config, may_have_started)
        # Raised outside the except block, so that httpx's error (whose request holds the token in its
        # headers) is not kept as this error's context for a log or an error tracker to print.
        raise failure


def transport_error(
    error: httpx.RequestError | httpx.InvalidURL | UnicodeError,
    request: ApiRequest,
    config: DomoConnectionConfig,
    may_have_started: bool,
) -> DomoRequestError:
    """Explain a request that got no answer; a start that may have been received says so."""
    target = f"{request.method} {config.base_url}{config.api_root}{request.path}"
    if config.oauth is not None and _failed_url(error) == httpx.URL(config.oauth.token_url).copy_with(
        query=None
    ):
        # The token request failed, so the request it was for was never sent.
        target = f"the OAuth token URL {config.oauth.token_url} (extra 'token_url')"
        may_have_started = False
    if isinstance(error, httpx.TimeoutException):
        what = f"Domo did not answer {target} within {config.timeout:g} s (extra 'timeout')"
    else:
        # httpx's own text may be empty, or end with a full stop; the sentence gets one of its own.
        detail = str(error).rstrip(".")
        what = f"could not reach Domo for {target}: {type(error).__name__}" + (
            f": {detail}" if detail else ""
        )
    # These fail before a byte of the request leaves this machine.
    sent = not isinstance(
        error,
        (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.LocalProtocolError,
            httpx.UnsupportedProtocol,
            httpx.InvalidURL,
            UnicodeError,
        ),
    )
    if may_have_started and sent:
        what += (
            ". The start request was sent, so an instance may have started: check the workflow's runs in "
            "Domo before starting it again"
        )
    failure = DomoRequestError(what + ".")
    failure.may_have_started = may_have_started and sent
    return failure


def _failed_url(error: Exception) -> httpx.URL | None:
    """The URL of the request an httpx error is about, if it says (its ``request`` may be unset)."""
    try:
        request = error.request if isinstance(error, httpx.RequestError) else None
    except RuntimeError:
        return None
    # Without the query on both sides: Domo's documented token URL carries grant_type and scope in it.
    return request.url.copy_with(query=None) if request is not None else None


def http_settings(config: DomoConnectionConfig) -> dict[str, Any]:
    """What the sync and the async httpx clients are built with: one place for timeouts, TLS and auth."""
    return {
        "base_url": config.base_url,
        "timeout": config.timeout,
        "verify": tls_verification(config),
        **auth_settings(config),
        # A redirect is reported, not followed: it usually means a wrong scheme or api_root.
        "follow_redirects": False,
    }


def tls_verification(config: DomoConnectionConfig) -> bool | ssl.SSLContext:
    """What httpx takes for ``verify``: a flag, or an SSL context trusting the configured CA bundle."""
    if isinstance(config.verify, str):
        return ssl.create_default_context(cafile=config.verify)
    return config.verify


def metrics_request(
    workflow_alias: str,
    limit: int | None,
    offset: int | None,
    after: datetime | None,
    until: datetime | None,
    status: Iterable[str] | None,
) -> ApiRequest:
    """Describe a ``/overall`` request with its optional filters."""
    params: dict[str, str | int | list[str]] = {}
    if limit is not None:
        params["limit"] = limit
    if offset is not None:
        params["offset"] = offset
    if after is not None:
        params["after"] = epoch_millis(after)
    if until is not None:
        params["until"] = epoch_millis(until)
    if status is not None:
        params["status"] = list(status)
    return ApiRequest("GET", f"/models/{_segment('workflow_alias', workflow_alias)}/overall", params=params)


class InstancePins:
    """
    What a client knows of when its instances were created and started, on Domo's clock: it narrows
    their searches to that moment.

    A wait's first search reads every instance created since a little before the DAG run (less a
    margin for clock differences); without an end, each later poll would also read every instance
    started since, and grow with the wait. Once an instance has been seen with its start time, its
    searches end (``until``) a second after it; once its creation time is told (:meth:`seed`, from
    Domo's answer to the start), they also begin (``after``) a second before it, so even the first
    poll reads only that moment. A narrowed window that misses an instance is searched again as
    wide as without this, and that instance is never narrowed again (a server that reads
    ``after``/``until`` otherwise).
    """

    def __init__(self) -> None:
        self._created: dict[str, datetime] = {}
        self._started: dict[str, datetime] = {}
        self._never: set[str] = set()

    def seed(self, instance_id: str, created_on: datetime) -> None:
        """Tell when an instance was created, as Domo's answer to its start said."""
        with contextlib.suppress(
            ValueError
        ):  # an id that is no UUID is never searched for: nothing to narrow
            self._created[check_instance_id(instance_id)] = as_utc(created_on)

    def window(
        self, instance_ids: Iterable[str], after: datetime | None
    ) -> tuple[datetime | None, datetime | None]:
        """The ``after`` and ``until`` of a search for these instances, given the wide ``after``."""
        ids = list(instance_ids)
        if not ids or any(instance_id in self._never for instance_id in ids):
            return after, None
        lows = [
            self._created[instance_id] - PIN_MARGIN if instance_id in self._created else after
            for instance_id in ids
        ]
        highs = [self._started.get(instance_id) or self._created.get(instance_id) for instance_id in ids]
        low = None if any(moment is None for moment in lows) else min(m for m in lows if m is not None)
        high = None if any(moment is None for moment in highs) else max(m for m in highs if m is not None)
        return low, high + PIN_MARGIN if high is not None else None

    def learn(self, found: Mapping[str, InstanceResult]) -> None:
        """Remember the start times of the instances found."""
        for instance_id, metric in found.items():
            if isinstance(metric, InstanceMetric) and metric.workflow_start_time is not None:
                self._started[instance_id] = metric.workflow_start_time

    def never(self, instance_ids: Iterable[str]) -> None:
        """Search for these instances as widely as without pins from now on."""
        self._never.update(instance_ids)

    def drop(self, instance_ids: Iterable[str]) -> None:
        """Forget instances no longer waited on."""
        for instance_id in instance_ids:
            self._created.pop(instance_id, None)
            self._started.pop(instance_id, None)
            self._never.discard(instance_id)


def search_instances(
    workflow_alias: str,
    instance_ids: Iterable[str],
    *,
    created_after: datetime | None,
    page_size: int,
    pins: InstancePins | None = None,
) -> InstancesSearch:
    """
    Page ``/overall`` until some instances turn up: a generator that yields requests and is sent answers.

    It returns the metric of each instance found (or the error of its row), by canonical id. The window
    starts at
    ``created_after`` less a margin for clock differences, unless ``pins`` narrows it to the
    instances' own moments (see :class:`InstancePins`); a narrowed window that misses an instance is
    searched again as wide as without them.
    """
    wanted = {check_instance_id(instance_id) for instance_id in instance_ids}
    wide_after = created_after - CLOCK_SKEW_MARGIN if created_after is not None else None
    after, until = pins.window(sorted(wanted), wide_after) if pins is not None else (wide_after, None)
    found = yield from _search_window(workflow_alias, wanted, after, until, page_size)
    if pins is not None:
        if (after, until) != (wide_after, None) and len(found) < len(wanted):
            missing = wanted - found.keys()
            found_late = yield from _search_window(workflow_alias, missing, wide_after, None, page_size)
            pins.never(found_late)
            found |= found_late
        pins.learn(found)
    return found


def _search_window(
    workflow_alias: str, wanted: set[str], after: datetime | None, until: datetime | None, page_size: int
) -> InstancesSearch:
    """
    Page one window of ``/overall`` until the wanted instances turn up.

    The order of ``instanceMetric`` is undocumented, so every page of the window is read until all the
    instances are found, a page comes back empty, or a page brings no instance not seen before (a
    server that ignores ``offset``). It ends on an empty page rather than a short one, because a
    server may cap ``limit`` below what was asked. Only the rows of the instances sought must be well
    formed: an odd row or counter elsewhere on the page does not stop the search.
    """
    found: dict[str, InstanceResult] = {}
    offset = 0
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        request = metrics_request(workflow_alias, page_size, offset, after, until, None)
        body = yield request
        rows = body.get("instanceMetric") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(rows, list | None):
            raise DomoApiError(
                status_code=200,
                method=request.method,
                path=request.path,
                hint="The answer is not a WorkflowMetrics as documented (instanceMetric: not a list).",
            )
        page_ids: set[str] = set()
        for row in rows or []:
            row_id = str(row.get("instanceId", "")).strip().lower() if isinstance(row, dict) else ""
            page_ids.add(row_id)
            if row_id in wanted and row_id not in found:
                try:
                    found[row_id] = validate_row(row, request)
                except DomoApiError as error:
                    found[row_id] = error
        if len(found) == len(wanted) or not page_ids - seen:
            return found
        seen |= page_ids
        offset += len(rows or [])
    return found


def search_instance(
    workflow_alias: str,
    instance_id: str,
    *,
    created_after: datetime | None,
    page_size: int,
    pins: InstancePins | None = None,
) -> InstanceSearch:
    """The search for one instance: its metric, or ``None`` when it is not listed (yet)."""
    found = yield from search_instances(
        workflow_alias, [instance_id], created_after=created_after, page_size=page_size, pins=pins
    )
    return metric_or_raise(next(iter(found.values()), None))


def metric_or_raise(result: InstanceResult | None) -> InstanceMetric | None:
    """An instance's metric from a search's result; the error found instead of it is raised."""
    if isinstance(result, DomoWorkflowsError):
        raise result
    return result


def validate_row(row: dict[str, Any], request: ApiRequest) -> InstanceMetric:
    """Check the one row a search was looking for."""
    try:
        return InstanceMetric.model_validate(row)
    except ValidationError as error:
        raise DomoApiError(
            status_code=200,
            method=request.method,
            path=request.path,
            hint=f"The instance's row in instanceMetric is not as documented ({_problems(error)}).",
        ) from None
