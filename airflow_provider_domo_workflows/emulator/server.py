"""Run the Domo Workflows emulator as a real HTTP server: in a background thread, or from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import Any, Literal

import uvicorn

from airflow_provider_domo_workflows.emulator.app import TOKEN_PATH, create_app
from airflow_provider_domo_workflows.emulator.state import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    DEFAULT_TOKEN,
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    INSTANCE_ROUTE_MODES,
    ORDERS,
    EmulatorState,
    FaultPlan,
    InstanceRoutes,
    Order,
    add_two_numbers_workflow,
)

_START_TIMEOUT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 5.0
# (flag, FaultPlan field, help) of each fault rate the command line sets.
_FAULT_FLAGS = (
    ("--fault-rate-5xx", "server_error", "rate of 500, 502 or 503 answers with Domo's error body"),
    ("--fault-rate-429", "rate_limited", "rate of 429 answers with Retry-After: 1"),
    ("--fault-rate-drop", "dropped", "rate of connections closed without an answer"),
    ("--fault-rate-slow", "slow", "rate of answers held back 2 seconds"),
    ("--fault-rate-html", "html_error", "rate of 502 answers with a gateway's HTML page"),
    ("--fault-rate-malformed", "malformed_json", "rate of 200 answers with truncated JSON"),
)


class _WakeableServer(uvicorn.Server):
    """uvicorn's server, but :meth:`request_exit` wakes its main loop at once instead of at the next tick.

    uvicorn checks ``should_exit`` every 0.1 s; test suites stop one emulator per test, so that wait adds up.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        """Run uvicorn's periodic ticks until asked to exit, waking early on :meth:`request_exit`."""
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864_000
            # asyncio's TimeoutError is only the builtin one from Python 3.11 on.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def request_exit(self) -> None:
        """Ask the server to shut down, from any thread."""
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            # The loop may already be closed when the server stopped on its own.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)


class EmulatorServer:
    """The emulator served by uvicorn on a background thread, for tests, demos and users' DAG tests.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with EmulatorServer() as server:
            httpx.post(f"{server.url}/api/workflow/v1/models/AddTwoNumbers/start", ...)

    :param state: the state to serve; defaults to a new :class:`EmulatorState` with the default workflows.
    :param host: the interface to listen on.
    :param port: the port to listen on; 0 picks a free one, which :attr:`url` then reports.
    :param log_level: uvicorn's log level; its access log stays off unless ``access_log`` is true.
    :param access_log: whether uvicorn logs each request.
    """

    def __init__(
        self,
        state: EmulatorState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        access_log: bool = False,
    ) -> None:
        self.state = state if state is not None else EmulatorState()
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._access_log = access_log
        self._server: _WakeableServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port the server listens on.

        :raises RuntimeError: before :meth:`start`.
        """
        if self._port is None:
            raise RuntimeError("The emulator is not started.")
        return self._port

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8765``, without an API root."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token(self) -> str:
        """The developer token the server accepts."""
        return self.state.token

    @property
    def token_url(self) -> str:
        """The URL of the server's OAuth token endpoint, e.g. ``http://127.0.0.1:8765/oauth/token``."""
        return self.url + TOKEN_PATH

    @property
    def oauth_client(self) -> tuple[str, str]:
        """The ``(client_id, client_secret)`` of the state's first OAuth client.

        :raises RuntimeError: when the state has no OAuth client.
        """
        clients = self.state.oauth_clients
        if not clients:
            raise RuntimeError("The emulator's state has no OAuth client.")
        return next(iter(clients.items()))

    def start(self) -> EmulatorServer:
        """Start serving and return once the server accepts connections.

        :raises RuntimeError: when already started, or when uvicorn fails to start in time.
        """
        if self._thread is not None:
            raise RuntimeError("The emulator is already started.")

        # Binding here rather than in uvicorn lets port 0 resolve to a known port before serving.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]

        config = uvicorn.Config(
            create_app(self.state),
            log_config=None,
            log_level=self._log_level,
            access_log=self._access_log,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = _WakeableServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="domo-workflows-emulator", daemon=True
        )
        self._thread.start()
        self._wait_until_serving(self._server, self._thread)
        return self

    def _wait_until_serving(self, server: _WakeableServer, thread: threading.Thread) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if not thread.is_alive():
                self._reset()
                raise RuntimeError("The emulator's server thread stopped while starting.")
            if server.started and self._accepts_connections():
                return
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"The emulator did not start within {_START_TIMEOUT_SECONDS} seconds.")

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop serving and wait for the server thread to end; does nothing when not started."""
        if self._server is None or self._thread is None:
            return
        self._server.request_exit()
        self._thread.join(_STOP_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            # Still-open client connections hold a graceful shutdown; they are the client's to lose.
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT_SECONDS)
        self._reset()

    def _reset(self) -> None:
        self._server = None
        self._thread = None
        self._port = None

    def airflow_conn_json(
        self, conn_id_unused: str | None = None, *, auth: Literal["token", "oauth"] = "token"
    ) -> str:
        """Return the JSON of an Airflow connection to this server, for an ``AIRFLOW_CONN_<ID>`` variable.

        :param conn_id_unused: accepted so call sites can name the connection they configure; ignored,
            since the connection id lives in the variable's name.
        :param auth: ``"token"`` puts the developer token in the password; ``"oauth"`` leaves the password
            out and puts the first OAuth client and the token endpoint in the extra instead.
        :raises ValueError: when ``auth`` is neither.
        :raises RuntimeError: for ``"oauth"`` when the state has no OAuth client.
        """
        if auth == "token":
            return json.dumps(
                {"conn_type": "domo_workflows", "host": self.url, "password": self.token, "extra": {}}
            )
        if auth != "oauth":
            raise ValueError(f"auth must be 'token' or 'oauth', got {auth!r}.")
        client_id, client_secret = self.oauth_client
        extra: dict[str, Any] = {
            "auth_type": "oauth",
            "client_id": client_id,
            "client_secret": client_secret,
            "token_url": self.token_url,
        }
        return json.dumps({"conn_type": "domo_workflows", "host": self.url, "extra": extra})

    def __enter__(self) -> EmulatorServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="domo-workflows-emulator",
        description="Serve a local emulator of Domo's Workflows API until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--token", default=DEFAULT_TOKEN, help="developer token to accept (default: %(default)s)"
    )
    parser.add_argument(
        "--history", type=int, default=0, metavar="N", help="past AddTwoNumbers instances to add"
    )
    parser.add_argument("--run-seconds", type=float, default=2.0, help="how long an instance runs")
    parser.add_argument("--pending-seconds", type=float, default=0.5, help="how long status stays null")
    parser.add_argument(
        "--listing-delay-seconds",
        type=float,
        default=0.0,
        help="how long a new instance is absent from /overall",
    )
    parser.add_argument("--order", choices=ORDERS, default="oldest_first", help="order of /overall instances")
    parser.add_argument(
        "--instance-routes",
        choices=INSTANCE_ROUTE_MODES,
        default="on",
        help="serve the one-instance GET routes (on), or answer them 404 or 405 (default: %(default)s)",
    )
    oauth = parser.add_argument_group("OAuth", "Clients that may get bearer tokens from /oauth/token.")
    oauth.add_argument(
        "--oauth-client",
        action="append",
        type=_oauth_client,
        dest="oauth_clients",
        metavar="ID:SECRET",
        help=f"an OAuth client; repeat for several (default: {DEFAULT_OAUTH_CLIENT_ID}:"
        f"{DEFAULT_OAUTH_CLIENT_SECRET})",
    )
    oauth.add_argument(
        "--token-lifetime",
        type=int,
        default=DEFAULT_TOKEN_LIFETIME_SECONDS,
        metavar="SECONDS",
        help="how long an OAuth token is accepted (default: %(default)s)",
    )
    faults = parser.add_argument_group(
        "faults",
        "Inject faults into the API's answers at these rates (0 to 1, adding up to at most 1); the seeded "
        "draws make a run reproducible for a given order of requests.",
    )
    for flag, kind, what in _FAULT_FLAGS:
        faults.add_argument(flag, type=float, default=0.0, dest=f"fault_{kind}", metavar="RATE", help=what)
    faults.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws (default: 0)")
    faults.add_argument(
        "--faults-only-get", action="store_true", help="fault only GET requests, never starts or cancels"
    )
    return parser


def _oauth_client(value: str) -> tuple[str, str]:
    """Read ``--oauth-client ID:SECRET``; the id ends at the first colon, the secret may hold more."""
    client_id, colon, secret = value.partition(":")
    if not colon or not client_id or not secret:
        # The value holds a secret, so the message does not echo it.
        raise argparse.ArgumentTypeError("expected ID:SECRET with a non-empty id and secret")
    return client_id, secret


def _fault_plan(args: argparse.Namespace) -> FaultPlan:
    """Build the fault plan the command line asks for.

    :raises ValueError: when the rates are invalid.
    """
    return FaultPlan(
        **{kind: getattr(args, f"fault_{kind}") for _, kind, _ in _FAULT_FLAGS},
        seed=args.fault_seed,
        only_methods=frozenset({"GET"}) if args.faults_only_get else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator from the command line and serve until SIGINT or SIGTERM.

    Prints ``Domo Workflows emulator listening on http://HOST:PORT`` once the server accepts connections.
    The token and the OAuth secrets are never printed. When faults are asked for, a further line lists their
    rates, and another says so when the one-instance routes are turned off.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    order: Order = args.order
    instance_routes: InstanceRoutes = args.instance_routes
    oauth_clients = None if args.oauth_clients is None else dict(args.oauth_clients)
    try:
        faults = _fault_plan(args)
        state = EmulatorState(
            token=args.token,
            workflows=[
                add_two_numbers_workflow(run_seconds=args.run_seconds, pending_seconds=args.pending_seconds)
            ],
            listing_delay_seconds=args.listing_delay_seconds,
            order=order,
            faults=faults,
            oauth_clients=oauth_clients,
            token_lifetime_seconds=args.token_lifetime,
            instance_routes=instance_routes,
        )
    except ValueError as error:
        parser.error(str(error))
    if args.history:
        state.add_history("AddTwoNumbers", args.history)

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous_handlers = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = EmulatorServer(state, host=args.host, port=args.port)
    try:
        try:
            server.start()
        except OSError as error:
            print(f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}.", file=sys.stderr)
            print("Choose another port with --port (0 picks a free one).", file=sys.stderr)
            return 1
        with server:
            print(f"Domo Workflows emulator listening on {server.url}", flush=True)
            if faults.total_rate:
                rates = ", ".join(
                    f"{flag} {getattr(faults, kind):g}"
                    for flag, kind, _ in _FAULT_FLAGS
                    if getattr(faults, kind)
                )
                scope = " on GET requests" if args.faults_only_get else ""
                print(f"Injecting faults{scope} (seed {faults.seed}): {rates}", flush=True)
            if instance_routes != "on":
                print(f"The one-instance routes answer {instance_routes}", flush=True)
            # A timed wait keeps the main thread returning to the interpreter, where signal handlers run.
            while not stop_requested.wait(0.2):
                pass
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
