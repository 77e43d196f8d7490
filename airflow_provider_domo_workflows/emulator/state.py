"""In-memory state of the Domo Workflows emulator: workflows, instances, OAuth tokens, requests, faults.

Nothing here knows about HTTP; the FastAPI app in :mod:`.app` renders this state as Domo's JSON.
"""

from __future__ import annotations

import bisect
import dataclasses
import hmac
import math
import random
import secrets
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, Final, Literal

Clock = Callable[[], datetime]
Order = Literal["oldest_first", "newest_first", "shuffled"]
FaultKind = Literal["server_error", "rate_limited", "dropped", "slow", "html_error", "malformed_json"]
# How the one-instance routes answer: served ("on"), or as a Domo server without them would ("404", "405").
InstanceRoutes = Literal["on", "404", "405"]

IN_PROGRESS: Final = "IN_PROGRESS"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
CANCELED: Final = "CANCELED"
END_STATES: Final = frozenset({COMPLETED, FAILED, CANCELED})
LISTED_STATES: Final = frozenset({IN_PROGRESS, COMPLETED, FAILED, CANCELED})
ORDERS: Final[tuple[Order, ...]] = ("oldest_first", "newest_first", "shuffled")
INSTANCE_ROUTE_MODES: Final[tuple[InstanceRoutes, ...]] = ("on", "404", "405")
FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "server_error",
    "rate_limited",
    "dropped",
    "slow",
    "html_error",
    "malformed_json",
)
SERVER_ERROR_STATUSES: Final = (500, 502, 503)

ADD_TWO_NUMBERS_MODEL_ID: Final = "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138"
DEFAULT_TOKEN: Final = "emulator-token"
DEFAULT_USER_ID: Final = "8811501"
DEFAULT_OAUTH_CLIENT_ID: Final = "emulator-client"
DEFAULT_OAUTH_CLIENT_SECRET: Final = "emulator-secret"
# Domo's token endpoint answers expires_in of about an hour.
DEFAULT_TOKEN_LIFETIME_SECONDS: Final = 3600

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HISTORY_DAYS: Final = 30
_created_ms = attrgetter("created_ms")
# Floating-point sums such as 0.1 + 0.2 + 0.7 land a hair above 1.0; that is still a total of 1.
_RATE_TOLERANCE: Final = 1e-9
# The status each fault answers with when it replaces or overrides the route's answer.
_FAULT_STATUSES: Final[dict[FaultKind, int]] = {"rate_limited": 429, "html_error": 502, "malformed_json": 200}


class EmulatorError(Exception):
    """Base class of the errors the emulator state raises; the app maps each one to a Domo answer."""


class UnknownWorkflowError(EmulatorError):
    """No workflow matches the alias, model id, version or start message that was asked for."""


class UnknownInstanceError(EmulatorError):
    """No instance has the id that was asked for."""


class InstanceEndedError(EmulatorError):
    """The instance has already reached an end state, so it can no longer be canceled."""


class InvalidClientError(EmulatorError):
    """The OAuth client id is unknown or its secret is wrong; the token endpoint answers 401."""


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime; the default clock of :class:`EmulatorState`."""
    return datetime.now(timezone.utc)


def to_epoch_ms(moment: datetime) -> int:
    """Convert a datetime to epoch milliseconds, reading a naive datetime as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def format_epoch_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds the way Domo does, e.g. ``2023-11-15T15:28:57.479Z``."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


class ManualClock:
    """A clock that only moves when told to, for tests that step an instance through its lifecycle.

    :param start: the time the clock shows at first; defaults to 2024-01-01T00:00:00Z.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start if start is not None else datetime(2024, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        """Return the time the clock currently shows."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += timedelta(seconds=seconds)


def add_two_numbers(params: Mapping[str, Any]) -> int | float:
    """Add the start parameters ``a`` and ``b``, as the seed's ``AddTwoNumbers`` workflow does.

    :param params: the instance's start parameters.
    :raises ValueError: when ``a`` or ``b`` is missing or not a number (a bool is not a number).
    """
    numbers: list[int | float] = []
    for name in ("a", "b"):
        if name not in params:
            raise ValueError(f"Missing start parameter {name!r}.")
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"Start parameter {name!r} must be a number, got {type(value).__name__}.")
        numbers.append(value)
    return numbers[0] + numbers[1]


@dataclass(frozen=True)
class WorkflowSpec:
    """A deployed workflow version and how its instances behave in the emulator.

    :param alias: the name a Domo app's manifest gives the workflow; also matched in ``{workflow}`` routes.
    :param model_id: the workflow's model id, a UUID string; matched in routes as well as the alias.
    :param name: the workflow's display name (``modelName`` in answers).
    :param version: the deployed version, ``major.minor.patch``.
    :param message_name: the title of the start node, which product-API starts must name;
        defaults to ``"Start {name}"``.
    :param pending_seconds: how long a new instance answers status null before it starts.
    :param run_seconds: how long the instance stays ``IN_PROGRESS`` after that.
    :param outcome: the end state reached after ``run_seconds`` when ``compute`` does not raise.
    :param compute: called with the start parameters when the instance starts; its return value is the
        instance's result, and if it raises the instance ends ``FAILED`` whatever ``outcome`` says (Domo
        accepts a start with bad parameters and fails the run later).
    """

    alias: str
    model_id: str
    name: str
    version: str = "1.0.0"
    message_name: str = ""
    pending_seconds: float = 0.5
    run_seconds: float = 2.0
    outcome: str = COMPLETED
    compute: Callable[[dict[str, Any]], object] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.alias:
            raise ValueError("A workflow needs a non-empty alias.")
        uuid.UUID(self.model_id)
        if self.outcome not in END_STATES:
            raise ValueError(f"outcome must be one of {sorted(END_STATES)}, got {self.outcome!r}.")
        if self.pending_seconds < 0 or self.run_seconds < 0:
            raise ValueError("pending_seconds and run_seconds must not be negative.")
        if not self.message_name:
            # A frozen dataclass only lets __post_init__ fill a derived default this way.
            object.__setattr__(self, "message_name", f"Start {self.name}")


def add_two_numbers_workflow(**overrides: Any) -> WorkflowSpec:
    """Return the seed's ``AddTwoNumbers`` workflow (version 1.1.0), with any field overridden."""
    spec = WorkflowSpec(
        alias="AddTwoNumbers",
        model_id=ADD_TWO_NUMBERS_MODEL_ID,
        name="AddTwoNumbers",
        version="1.1.0",
        compute=add_two_numbers,
    )
    return dataclasses.replace(spec, **overrides)


def default_workflows() -> list[WorkflowSpec]:
    """Return the workflows a new :class:`EmulatorState` has when none are given."""
    return [add_two_numbers_workflow()]


@dataclass(frozen=True)
class InstanceSnapshot:
    """An instance as it stood at one moment; the emulator's answers are rendered from these.

    Times are epoch milliseconds. ``status`` is None while the instance is pending. ``end_ms`` is set once
    the instance is ``COMPLETED`` or ``FAILED``, ``cancel_ms`` once it is ``CANCELED``.
    """

    instance_id: str
    alias: str
    model_id: str
    model_name: str
    version: str
    created_by: str
    status: str | None
    created_ms: int
    updated_ms: int
    start_ms: int | None
    end_ms: int | None
    cancel_ms: int | None
    cycle_ms: int
    parameters: dict[str, Any] | None
    result: object
    error: str | None
    from_api: bool

    @property
    def created_on(self) -> datetime:
        """Return the creation time as an aware UTC datetime."""
        return _EPOCH + timedelta(milliseconds=self.created_ms)


@dataclass(frozen=True)
class OverallResult:
    """The metrics of one workflow and one page of its instances, as ``/overall`` answers them."""

    model_id: str
    version: str
    completed: int
    in_progress: int
    failed: int
    canceled: int
    average_cycle_ms: int
    page: list[InstanceSnapshot]


@dataclass(frozen=True)
class FaultPlan:
    """Which faults the emulator injects into its answers to Domo's API routes, and how often.

    Each request to an API route that passes ``only_methods`` and ``only_paths_containing`` draws one number
    from a ``random.Random(seed)`` owned by the state, which picks at most one fault: the rates are the
    probabilities of each kind and add up to at most 1. The same plan and the same requests in the same
    order therefore inject the same faults. The admin routes under ``/_emulator`` and the UI page are never
    faulted.

    When the fault is decided matters. ``server_error``, ``rate_limited``, ``dropped`` and ``html_error``
    replace the answer before the request reaches the route, so the route does not act: a faulted start
    starts no instance. They model a gateway or load balancer that failed before passing the request on;
    a real gateway's 5xx may or may not have reached Domo, and the provider must treat it as unknown, but
    the emulator's are always "did not reach". ``slow`` and ``malformed_json`` run the route (a start does
    start an instance) and then delay or corrupt its answer.

    :param server_error: the rate of 500, 502 or 503 answers with Domo's JSON error body; the same draw
        picks the status, so the three are equally likely.
    :param rate_limited: the rate of 429 answers with a ``Retry-After`` header and Domo's JSON error body.
    :param dropped: the rate of connections closed without any answer; clients see the server disconnect.
    :param slow: the rate of answers held back ``slow_seconds`` after the route has run; other requests
        are served meanwhile.
    :param html_error: the rate of 502 answers with a gateway's HTML page instead of JSON.
    :param malformed_json: the rate of 200 answers whose ``application/json`` body is the route's answer
        cut in half, so it does not parse.
    :param seed: the seed of the draws.
    :param retry_after_seconds: the delay a 429 asks for, in whole seconds.
    :param retry_after_http_date: send ``Retry-After`` as an HTTP date (the wall clock plus the delay,
        rounded up to the second) rather than as seconds; the state's clock plays no part, since clients
        compare the date with their own clock.
    :param slow_seconds: how long a slow answer is held back.
    :param only_methods: fault only requests with one of these HTTP methods (any case), e.g.
        ``frozenset({"GET"})`` so that starts and cancels are never faulted; None means every method.
    :param only_paths_containing: fault only requests whose path contains this text; None means every path.
    :raises ValueError: when a rate is outside [0, 1], the rates add up to more than 1, a delay is
        negative or ``only_methods`` is empty.
    :raises TypeError: when ``only_methods`` is a single string rather than a set.
    """

    server_error: float = 0.0
    rate_limited: float = 0.0
    dropped: float = 0.0
    slow: float = 0.0
    html_error: float = 0.0
    malformed_json: float = 0.0
    seed: int = 0
    retry_after_seconds: int = 1
    retry_after_http_date: bool = False
    slow_seconds: float = 2.0
    only_methods: frozenset[str] | None = None
    only_paths_containing: str | None = None

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            rate = getattr(self, kind)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"The {kind} fault rate must be between 0 and 1, got {rate!r}.")
        if self.total_rate > 1.0 + _RATE_TOLERANCE:
            rates = ", ".join(f"{kind}={getattr(self, kind)}" for kind in FAULT_KINDS if getattr(self, kind))
            raise ValueError(
                f"The fault rates must add up to at most 1 (each request gets at most one fault), "
                f"got {self.total_rate:g} from {rates}."
            )
        if self.retry_after_seconds < 0:
            raise ValueError(f"retry_after_seconds must not be negative, got {self.retry_after_seconds}.")
        if not self.slow_seconds >= 0:
            raise ValueError(f"slow_seconds must not be negative, got {self.slow_seconds!r}.")
        if isinstance(self.only_methods, str):
            raise TypeError(
                f"only_methods must be a set of methods, e.g. frozenset({{{self.only_methods!r}}})."
            )
        if self.only_methods is not None:
            methods = frozenset(method.upper() for method in self.only_methods)
            if not methods:
                raise ValueError("only_methods must name at least one method; None means every method.")
            # A frozen dataclass only lets __post_init__ normalise a field this way.
            object.__setattr__(self, "only_methods", methods)

    @property
    def total_rate(self) -> float:
        """The probability that an eligible request gets a fault of any kind."""
        return math.fsum(getattr(self, kind) for kind in FAULT_KINDS)

    def applies_to(self, method: str, path: str) -> bool:
        """Return whether a request to an API route with this method and path may be faulted."""
        if self.only_methods is not None and method.upper() not in self.only_methods:
            return False
        return self.only_paths_containing is None or self.only_paths_containing in path

    def pick(self, draw: float) -> InjectedFault | None:
        """Return the fault that a draw in [0, 1) picks, or None when it picks none.

        The kinds take consecutive slices of [0, 1) in :data:`FAULT_KINDS` order, each as wide as its rate;
        within the ``server_error`` slice, the position of the draw picks 500, 502 or 503.
        """
        low = 0.0
        for kind in FAULT_KINDS:
            rate: float = getattr(self, kind)
            if draw < low + rate:
                if kind == "server_error":
                    slices = len(SERVER_ERROR_STATUSES)
                    index = min(int((draw - low) / rate * slices), slices - 1)
                    return InjectedFault(kind, self, SERVER_ERROR_STATUSES[index])
                return InjectedFault(kind, self, _FAULT_STATUSES.get(kind))
            low += rate
        return None


@dataclass(frozen=True)
class InjectedFault:
    """One fault picked for one request.

    :param kind: one of :data:`FAULT_KINDS`.
    :param plan: the plan it was drawn from, whose settings (delays, ``Retry-After``) it follows.
    :param status_code: the status the fault answers with (500, 502 or 503 for ``server_error``, 429, 502
        and 200 for the others); None for ``dropped``, which answers nothing, and ``slow``, which keeps the
        route's status.
    """

    kind: FaultKind
    plan: FaultPlan
    status_code: int | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An OAuth access token the emulator issued through its client-credentials grant.

    :param access_token: the random token a client sends as ``Authorization: bearer <token>``.
    :param client_id: the client it was issued to.
    :param scope: the scope the client asked for, echoed back as Domo does; empty when none was asked.
    :param jti: the token's unique id, a UUID string, as in Domo's token answer.
    :param issued_ms: when it was issued, in epoch milliseconds on the state's clock.
    :param expires_ms: when it stops being accepted, on the same clock.
    """

    access_token: str
    client_id: str
    scope: str
    jti: str
    issued_ms: int
    expires_ms: int

    @property
    def expires_in(self) -> int:
        """The token's lifetime in whole seconds, as the token answer's ``expires_in`` reports it."""
        return (self.expires_ms - self.issued_ms) // 1000

    def __repr__(self) -> str:
        # Tests print states and records when they fail; the token itself must not end up in their output.
        return f"IssuedToken(client_id={self.client_id!r}, scope={self.scope!r}, jti={self.jti!r})"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the emulator served; ``route`` is the matched route template, or None if none matched.

    ``fault`` is the kind of fault injected into the answer, or None. A dropped request has status 0, and a
    fault that replaces the answer leaves ``route`` None since the request never reached the router.
    """

    method: str
    path: str
    query: str
    status_code: int
    response_bytes: int
    route: str | None
    fault: FaultKind | None = None


@dataclass(slots=True)
class _Instance:
    """The mutable record behind an instance; slots keep a 100,000-instance history small."""

    instance_id: str
    spec: WorkflowSpec
    created_by: str
    created_ms: int
    pending_ms: int
    run_ms: int
    end_status: str
    parameters: dict[str, Any] | None = None
    result: object = None
    error: str | None = None
    from_api: bool = False
    forced_status: str | None = None
    forced_ms: int = 0
    # (finished_ms, status, cycle_ms) once ended: valid whenever the clock reads finished_ms or later.
    settled: tuple[int, str, int] | None = None

    def status_at(self, now_ms: int) -> str | None:
        if self.forced_status is not None:
            return self.forced_status
        elapsed = now_ms - self.created_ms
        if elapsed < self.pending_ms:
            return None
        if elapsed < self.pending_ms + self.run_ms:
            return IN_PROGRESS
        return self.end_status

    def _started_and_finished(self, now_ms: int) -> tuple[bool, int | None]:
        start_ms = self.created_ms + self.pending_ms
        if self.forced_status is not None:
            return self.forced_ms >= start_ms, self.forced_ms
        natural_end_ms = start_ms + self.run_ms
        return now_ms >= start_ms, natural_end_ms if now_ms >= natural_end_ms else None

    def cycle_ms_at(self, now_ms: int) -> int:
        started, finished_ms = self._started_and_finished(now_ms)
        if finished_ms is None:
            return 0
        return finished_ms - (self.created_ms + self.pending_ms if started else self.created_ms)

    def force(self, status: str, now_ms: int) -> None:
        self.forced_status = status
        self.forced_ms = now_ms
        self.settled = None

    def outcome_at(self, now_ms: int) -> tuple[str | None, int]:
        """Return the status and the cycle time, cached once ended since listings read them by the 100,000."""
        settled = self.settled
        if settled is not None and now_ms >= settled[0]:
            return settled[1], settled[2]
        status = self.status_at(now_ms)
        if status is None or status == IN_PROGRESS:
            return status, 0
        _, finished_ms = self._started_and_finished(now_ms)
        cycle_ms = self.cycle_ms_at(now_ms)
        if finished_ms is not None:
            self.settled = (finished_ms, status, cycle_ms)
        return status, cycle_ms

    def snapshot(self, now_ms: int) -> InstanceSnapshot:
        status = self.status_at(now_ms)
        start_ms = self.created_ms + self.pending_ms
        started, finished_ms = self._started_and_finished(now_ms)
        return InstanceSnapshot(
            instance_id=self.instance_id,
            alias=self.spec.alias,
            model_id=self.spec.model_id,
            model_name=self.spec.name,
            version=self.spec.version,
            created_by=self.created_by,
            status=status,
            created_ms=self.created_ms,
            updated_ms=finished_ms if finished_ms is not None else (start_ms if started else self.created_ms),
            start_ms=start_ms if started else None,
            end_ms=finished_ms if status in (COMPLETED, FAILED) else None,
            cancel_ms=finished_ms if status == CANCELED else None,
            cycle_ms=self.cycle_ms_at(now_ms),
            parameters=None if self.parameters is None else dict(self.parameters),
            result=self.result,
            error=self.error,
            from_api=self.from_api,
        )


class EmulatorState:
    """Everything the emulator knows, safe to read and change from several threads.

    Instance statuses are computed from ``clock`` at each read, so a test can swap in a
    :class:`ManualClock` and step instances through their lifecycle without sleeping.

    :param token: the only ``X-DOMO-Developer-Token`` the API accepts.
    :param tokens_without_grants: developer tokens of users who lack the workflow grants (Execute, View
        Instance Details): Domo knows them, so they pass authentication, and every workflow route answers
        them 403.
    :param oauth_clients: the OAuth clients, client id to secret, that ``/oauth/token`` issues tokens to;
        defaults to one client, ``emulator-client`` with secret ``emulator-secret``. An empty mapping
        leaves only the developer token.
    :param token_lifetime_seconds: how long an issued OAuth token is accepted, in whole seconds on
        ``clock``, so that a :class:`ManualClock` can expire tokens.
    :param instance_routes: how the one-instance routes answer; see :attr:`instance_routes`.
    :param workflows: the deployed workflows; defaults to :func:`default_workflows`.
    :param clock: returns the current time; a naive datetime is read as UTC.
    :param listing_delay_seconds: how long a new instance stays absent from ``/overall``, as in Domo.
    :param order: the order of ``instanceMetric``: ``oldest_first``, ``newest_first`` or ``shuffled``
        (a permutation fixed by ``order_seed``, stable across pages).
    :param order_seed: the seed of the ``shuffled`` order.
    :param max_page_size: the server silently caps ``/overall``'s ``limit`` at this.
    :param user_id: the user id reported as creator of API-started instances.
    :param faults: the faults to inject into API answers; defaults to none. See :attr:`faults`.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        tokens_without_grants: Iterable[str] = (),
        workflows: Iterable[WorkflowSpec] | None = None,
        clock: Clock = utc_now,
        listing_delay_seconds: float = 0.0,
        order: Order = "oldest_first",
        order_seed: int = 0,
        max_page_size: int = 500,
        user_id: str = DEFAULT_USER_ID,
        faults: FaultPlan | None = None,
        oauth_clients: Mapping[str, str] | None = None,
        token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
        instance_routes: InstanceRoutes = "on",
    ) -> None:
        self.lock = threading.RLock()
        self.token = token
        self.tokens_without_grants = set(tokens_without_grants)
        clients = (
            {DEFAULT_OAUTH_CLIENT_ID: DEFAULT_OAUTH_CLIENT_SECRET} if oauth_clients is None else oauth_clients
        )
        for client_id, secret in clients.items():
            if not client_id or not secret or ":" in client_id:
                # HTTP Basic joins id and secret with the first colon, so an id cannot hold one.
                raise ValueError("An OAuth client needs a non-empty id without ':' and a non-empty secret.")
        self._oauth_clients = dict(clients)
        self._tokens: dict[str, IssuedToken] = {}
        self.token_lifetime_seconds = token_lifetime_seconds
        self.instance_routes = instance_routes
        self.clock = clock
        self.listing_delay_seconds = listing_delay_seconds
        self.order = order
        self.order_seed = order_seed
        self.max_page_size = max_page_size
        self.user_id = user_id
        self._workflows: dict[str, WorkflowSpec] = {}
        self._instances: dict[str, _Instance] = {}
        self._by_alias: dict[str, list[_Instance]] = {}
        self._started: list[_Instance] = []
        self._history_batches: Counter[str] = Counter()
        self._request_log: list[RequestRecord] = []
        self._fault_counts: Counter[FaultKind] = Counter()
        self.faults = faults if faults is not None else FaultPlan()
        for spec in default_workflows() if workflows is None else workflows:
            self.add_workflow(spec)

    @property
    def order(self) -> Order:
        """The order of ``instanceMetric`` in ``/overall`` answers."""
        return self._order

    @order.setter
    def order(self, value: Order) -> None:
        if value not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {value!r}.")
        self._order = value

    @property
    def max_page_size(self) -> int:
        """The most instances one ``/overall`` page holds, whatever ``limit`` asks."""
        return self._max_page_size

    @max_page_size.setter
    def max_page_size(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"max_page_size must be at least 1, got {value}.")
        self._max_page_size = value

    @property
    def token_lifetime_seconds(self) -> int:
        """How long an OAuth token issued from now on is accepted; tokens already issued keep theirs."""
        return self._token_lifetime_seconds

    @token_lifetime_seconds.setter
    def token_lifetime_seconds(self, value: int) -> None:
        # A bool is an int, and a lifetime of True seconds is surely a mistake.
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"token_lifetime_seconds must be a whole number of at least 1, got {value!r}.")
        self._token_lifetime_seconds = value

    @property
    def instance_routes(self) -> InstanceRoutes:
        """How ``GET R/instances/{id}`` and ``GET R/models/{workflow}/instance/{id}`` answer.

        ``"on"`` serves them. ``"404"`` answers as a server without them ("No route matches ..."), and
        ``"405"`` as one where only another method is mapped there; both let tests drive a client's
        fallback to ``/overall``. The other routes, cancel and ``instances/message`` included, are served
        whatever this says.
        """
        return self._instance_routes

    @instance_routes.setter
    def instance_routes(self, value: InstanceRoutes) -> None:
        if value not in INSTANCE_ROUTE_MODES:
            raise ValueError(f"instance_routes must be one of {INSTANCE_ROUTE_MODES}, got {value!r}.")
        self._instance_routes = value

    @property
    def faults(self) -> FaultPlan:
        """The faults injected into API answers; setting a plan restarts its draws and its counts."""
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        with self.lock:
            self._faults = plan
            self._fault_rng = random.Random(plan.seed)
            self._fault_counts.clear()

    def now_ms(self) -> int:
        """Return the clock's current time in epoch milliseconds."""
        return to_epoch_ms(self.clock())

    # OAuth

    @property
    def oauth_clients(self) -> dict[str, str]:
        """A copy of the OAuth clients, client id to secret, in the order they were given."""
        with self.lock:
            return dict(self._oauth_clients)

    def authenticate_client(self, client_id: str, client_secret: str) -> None:
        """Check an OAuth client's id and secret.

        :raises InvalidClientError: when the client id is unknown or the secret is wrong; the message names
            neither the secret nor any token.
        """
        with self.lock:
            expected = self._oauth_clients.get(client_id)
        # Comparing against a dummy when the id is unknown keeps the two failures equally slow.
        matches = hmac.compare_digest(client_secret.encode(), (expected or "\0").encode())
        if expected is None or not matches:
            raise InvalidClientError("Bad credentials")

    def issue_token(self, client_id: str, client_secret: str, *, scope: str = "") -> IssuedToken:
        """Check a client's credentials and issue it a new access token that expires after the lifetime.

        Every call issues a fresh random token; earlier ones stay valid until they expire or are revoked.

        :raises InvalidClientError: when the client id is unknown or the secret is wrong; the message names
            neither the secret nor any token.
        """
        with self.lock:
            self.authenticate_client(client_id, client_secret)
            now_ms = self.now_ms()
            self._forget_expired(now_ms)
            issued = IssuedToken(
                access_token=secrets.token_urlsafe(32),
                client_id=client_id,
                scope=scope,
                jti=str(uuid.uuid4()),
                issued_ms=now_ms,
                expires_ms=now_ms + self._token_lifetime_seconds * 1000,
            )
            self._tokens[issued.access_token] = issued
            return issued

    def token_is_valid(self, access_token: str) -> bool:
        """Return whether ``access_token`` was issued, is not revoked and is unexpired on the state clock."""
        with self.lock:
            issued = self._tokens.get(access_token)
            if issued is None:
                return False
            if self.now_ms() >= issued.expires_ms:
                del self._tokens[access_token]
                return False
            return True

    def active_token_count(self) -> int:
        """Return how many issued tokens are still accepted."""
        with self.lock:
            self._forget_expired(self.now_ms())
            return len(self._tokens)

    def revoke_tokens(self) -> int:
        """Forget every issued token, so a client holding one gets 401 and must ask for a new one.

        :returns: how many unexpired tokens were revoked.
        """
        with self.lock:
            self._forget_expired(self.now_ms())
            revoked = len(self._tokens)
            self._tokens.clear()
            return revoked

    def _forget_expired(self, now_ms: int) -> None:
        expired = [token for token, issued in self._tokens.items() if now_ms >= issued.expires_ms]
        for token in expired:
            del self._tokens[token]

    # Workflows

    def add_workflow(self, spec: WorkflowSpec) -> None:
        """Deploy ``spec``, replacing the workflow with the same alias; its past instances stay listed.

        :raises ValueError: when another alias already uses the spec's model id.
        """
        with self.lock:
            for other in self._workflows.values():
                if other.model_id == spec.model_id and other.alias != spec.alias:
                    raise ValueError(f"Model id {spec.model_id} already belongs to workflow {other.alias!r}.")
            self._workflows[spec.alias] = spec
            self._by_alias.setdefault(spec.alias, [])

    def workflows(self) -> list[WorkflowSpec]:
        """Return the deployed workflows."""
        with self.lock:
            return list(self._workflows.values())

    def workflow(self, alias_or_model_id: str) -> WorkflowSpec:
        """Return the workflow whose alias or model id is ``alias_or_model_id``.

        :raises UnknownWorkflowError: when none matches.
        """
        with self.lock:
            spec = self._workflows.get(alias_or_model_id)
            if spec is not None:
                return spec
            for spec in self._workflows.values():
                if spec.model_id.lower() == alias_or_model_id.lower():
                    return spec
        raise UnknownWorkflowError(f"Workflow {alias_or_model_id!r} was not found.")

    # Instances

    def start(self, alias_or_model_id: str, params: Mapping[str, Any]) -> InstanceSnapshot:
        """Start an instance of a workflow with ``params`` as its start parameters and return it.

        The workflow's ``compute`` runs now; if it raises, the start still succeeds and the instance
        ends ``FAILED`` when its run time is over.

        :raises UnknownWorkflowError: when no workflow matches ``alias_or_model_id``.
        """
        spec = self.workflow(alias_or_model_id)
        parameters = dict(params)
        result: object = None
        error: str | None = None
        end_status = spec.outcome
        if spec.compute is not None:
            try:
                result = spec.compute(dict(parameters))
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                end_status = FAILED

        with self.lock:
            now_ms = self.now_ms()
            instance = _Instance(
                instance_id=str(uuid.uuid4()),
                spec=spec,
                created_by=self.user_id,
                created_ms=now_ms,
                pending_ms=round(spec.pending_seconds * 1000),
                run_ms=round(spec.run_seconds * 1000),
                end_status=end_status,
                parameters=parameters,
                result=result,
                error=error,
                from_api=True,
            )
            self._instances[instance.instance_id] = instance
            bisect.insort_right(self._by_alias[spec.alias], instance, key=_created_ms)
            self._started.append(instance)
            return instance.snapshot(now_ms)

    def start_message(
        self, message_name: str, version: str, model_id: str, data: Mapping[str, Any]
    ) -> InstanceSnapshot:
        """Start an instance the way the product API's ``instances/message`` does.

        :raises UnknownWorkflowError: when the model id, the version or the start message does not match a
            deployed workflow; Domo answers all three with 404.
        """
        with self.lock:
            spec = next((s for s in self._workflows.values() if s.model_id.lower() == model_id.lower()), None)
        if spec is None:
            raise UnknownWorkflowError(f"Workflow model {model_id} was not found.")
        if spec.version != version:
            raise UnknownWorkflowError(f"Version {version} of workflow model {model_id} is not deployed.")
        if spec.message_name != message_name:
            raise UnknownWorkflowError(
                f"Start message {message_name!r} was not found in model {model_id} version {version}."
            )
        return self.start(spec.alias, data)

    def instance(self, instance_id: str) -> InstanceSnapshot:
        """Return one instance as it stands now.

        :raises UnknownInstanceError: when no instance has that id.
        """
        with self.lock:
            return self._find(instance_id).snapshot(self.now_ms())

    def instances(self, alias: str | None = None, *, include_history: bool = False) -> list[InstanceSnapshot]:
        """Return the instances started through the API in start order, optionally only one workflow's.

        :param alias: a workflow alias or model id; None means every workflow.
        :param include_history: also return the instances made by :meth:`add_history`, oldest first.
        """
        with self.lock:
            now_ms = self.now_ms()
            wanted = None if alias is None else self.workflow(alias).alias
            if include_history:
                pool: Iterable[_Instance] = (
                    self._by_alias.get(wanted, [])
                    if wanted is not None
                    else (i for records in self._by_alias.values() for i in records)
                )
            else:
                pool = (i for i in self._started if wanted is None or i.spec.alias == wanted)
            return [instance.snapshot(now_ms) for instance in pool]

    def started_count(self, alias: str) -> int:
        """Return how many instances of a workflow were started through the API (history excluded)."""
        wanted = self.workflow(alias).alias
        with self.lock:
            return sum(1 for instance in self._started if instance.spec.alias == wanted)

    def cancel(self, instance_id: str) -> InstanceSnapshot:
        """Cancel an instance and return it as it stood just before, as Domo's cancel answer does.

        :raises UnknownInstanceError: when no instance has that id.
        :raises InstanceEndedError: when the instance has already ended; the instance is left as it is.
        """
        with self.lock:
            instance = self._find(instance_id)
            now_ms = self.now_ms()
            before = instance.snapshot(now_ms)
            if before.status in END_STATES:
                raise InstanceEndedError(
                    f"Instance {instance_id} has already ended with status {before.status}."
                )
            instance.force(CANCELED, now_ms)
            return before

    def finish(self, instance_id: str, status: str) -> InstanceSnapshot:
        """Force an instance into an end state now, whatever state it is in, and return it.

        :param status: ``COMPLETED``, ``FAILED`` or ``CANCELED`` (any case).
        :raises UnknownInstanceError: when no instance has that id.
        :raises ValueError: when ``status`` is not an end state.
        """
        end_status = status.upper()
        if end_status not in END_STATES:
            raise ValueError(f"status must be one of {sorted(END_STATES)}, got {status!r}.")
        with self.lock:
            instance = self._find(instance_id)
            now_ms = self.now_ms()
            instance.force(end_status, now_ms)
            return instance.snapshot(now_ms)

    def add_history(self, alias: str, count: int, *, seed: int = 0) -> None:
        """Add ``count`` past instances of a workflow, all ended before now and created in the past 30 days.

        About 85% are ``COMPLETED``, 10% ``FAILED`` and 5% ``CANCELED``. The same calls with the same seeds
        and clock give the same instances; a second call never repeats the first one's instance ids.
        """
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}.")
        with self.lock:
            spec = self.workflow(alias)
            now_ms = self.now_ms()
            batch = self._history_batches[spec.alias]
            self._history_batches[spec.alias] += 1
            rng = random.Random(f"{spec.alias}:{seed}:{batch}")
            window_ms = _HISTORY_DAYS * 24 * 3600 * 1000
            digits = f"{rng.getrandbits(128):032x}"
            id_prefix = f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-"
            id_offset = rng.getrandbits(48)
            new = [
                self._history_instance(spec, rng, now_ms, window_ms, id_prefix, id_offset + index)
                for index in range(count)
            ]
            for instance in new:
                self._instances[instance.instance_id] = instance
            records = self._by_alias[spec.alias]
            records.extend(new)
            records.sort(key=_created_ms)

    def _history_instance(
        self,
        spec: WorkflowSpec,
        rng: random.Random,
        now_ms: int,
        window_ms: int,
        id_prefix: str,
        id_number: int,
    ) -> _Instance:
        # random() and getrandbits() are several times cheaper than randrange(), which matters at 100,000.
        draw = rng.random
        pending_ms = 20 + int(draw() * 1_980)
        run_ms = 500 + int(draw() * 599_500)
        youngest_ms = pending_ms + run_ms + 1_000
        age_ms = youngest_ms + int(draw() * (window_ms - youngest_ms))
        roll = draw()
        end_status = COMPLETED if roll < 0.85 else FAILED if roll < 0.95 else CANCELED
        # A seeded prefix keeps the history reproducible (uuid4() would not); an odd multiplier modulo 2**48
        # makes the last group unique within the batch yet not sequential-looking.
        instance_id = f"{id_prefix}{(id_number * 0x9E3779B97F4B) & 0xFFFFFFFFFFFF:012x}"
        created_ms = now_ms - age_ms
        return _Instance(
            instance_id,
            spec,
            self.user_id,
            created_ms,
            pending_ms,
            run_ms,
            end_status,
            settled=(created_ms + pending_ms + run_ms, end_status, run_ms),
        )

    def overall(
        self,
        alias_or_model_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        after_ms: int | None = None,
        until_ms: int | None = None,
        statuses: Iterable[str] | None = None,
    ) -> OverallResult:
        """Compute a workflow's ``/overall`` answer.

        The counts and the average cycle time cover the instances created strictly between ``after_ms``
        and ``until_ms``; the page keeps those whose status is in ``statuses`` (all when None), puts them
        in :attr:`order`, skips ``offset`` and keeps at most ``limit`` (capped at :attr:`max_page_size`).
        Instances younger than :attr:`listing_delay_seconds` are left out of everything.

        :raises UnknownWorkflowError: when no workflow matches ``alias_or_model_id``.
        """
        with self.lock:
            spec = self.workflow(alias_or_model_id)
            now_ms = self.now_ms()
            records = self._by_alias[spec.alias]
            low = 0 if after_ms is None else bisect.bisect_right(records, after_ms, key=_created_ms)
            listed_until_ms = now_ms - round(self.listing_delay_seconds * 1000)
            high = bisect.bisect_right(records, listed_until_ms, key=_created_ms)
            if until_ms is not None:
                high = min(high, bisect.bisect_left(records, until_ms, key=_created_ms))
            window = records[low:high]

            counts: dict[str | None, int] = dict.fromkeys((None, *LISTED_STATES), 0)
            cycle_total_ms = 0
            wanted = None if statuses is None else set(statuses)
            kept: list[_Instance] = []
            for instance in window:
                status, cycle_ms = instance.outcome_at(now_ms)
                counts[status] += 1
                cycle_total_ms += cycle_ms
                if wanted is None or status in wanted:
                    kept.append(instance)

            ended = counts[COMPLETED] + counts[FAILED] + counts[CANCELED]
            page_size = max(0, min(limit, self.max_page_size))
            page = self._ordered(kept)[offset : offset + page_size]
            return OverallResult(
                model_id=spec.model_id,
                version=spec.version,
                completed=counts[COMPLETED],
                in_progress=counts[IN_PROGRESS],
                failed=counts[FAILED],
                canceled=counts[CANCELED],
                average_cycle_ms=round(cycle_total_ms / ended) if ended else 0,
                page=[instance.snapshot(now_ms) for instance in page],
            )

    def _ordered(self, instances: list[_Instance]) -> list[_Instance]:
        if self.order == "newest_first":
            return instances[::-1]
        if self.order == "shuffled":
            salt = f"{self.order_seed}:".encode()
            return sorted(instances, key=lambda i: zlib.crc32(salt + i.instance_id.encode()))
        return instances

    def _find(self, instance_id: str) -> _Instance:
        instance = self._instances.get(instance_id.lower())
        if instance is None:
            raise UnknownInstanceError(f"Instance {instance_id} was not found.")
        return instance

    def reset(self) -> None:
        """Forget every instance (history included) and the request log; workflows and settings stay.

        The fault plan stays too, but its draws start over from its seed and its counts from zero. Issued
        OAuth tokens stay valid, as the developer token does; :meth:`revoke_tokens` forgets them.
        """
        with self.lock:
            self.faults = self._faults
            self._instances.clear()
            self._started.clear()
            self._history_batches.clear()
            self._request_log.clear()
            for records in self._by_alias.values():
                records.clear()

    # Request log

    def record_request(self, record: RequestRecord) -> None:
        """Append one served request to the log."""
        with self.lock:
            self._request_log.append(record)

    @property
    def request_log(self) -> list[RequestRecord]:
        """A copy of the log of API requests served so far, oldest first (admin routes are not logged)."""
        with self.lock:
            return list(self._request_log)

    def request_counts(self) -> dict[str, int]:
        """Count the logged requests per ``"METHOD route-template"`` (or path when no route matched)."""
        with self.lock:
            return dict(Counter(f"{r.method} {r.route or r.path}" for r in self._request_log))

    def count_requests(self, method: str, route_suffix: str) -> int:
        """Count the logged requests of ``method`` whose route template ends with ``route_suffix``.

        For example ``count_requests("GET", "/models/{workflow}/overall")`` counts metric calls under
        both API roots.
        """
        with self.lock:
            return sum(
                1
                for r in self._request_log
                if r.method == method.upper() and (r.route or r.path).endswith(route_suffix)
            )

    # Faults

    def draw_fault(self, method: str, path: str) -> InjectedFault | None:
        """Decide whether a request to an API route gets a fault, count it, and return it (None for none).

        Each request the plan applies to takes exactly one draw, whatever it picks, so the faults depend
        only on the plan and the order of the requests.
        """
        with self.lock:
            plan = self._faults
            if plan.total_rate == 0 or not plan.applies_to(method, path):
                return None
            fault = plan.pick(self._fault_rng.random())
            if fault is not None:
                self._fault_counts[fault.kind] += 1
            return fault

    def fault_counts(self) -> dict[str, int]:
        """Return how many faults of each kind were injected since the plan was set, every kind listed."""
        with self.lock:
            return {kind: self._fault_counts[kind] for kind in FAULT_KINDS}
