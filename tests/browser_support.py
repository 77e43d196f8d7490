"""
What the browser test needs around it: Debian's Chromium, and an Airflow API server of its own.

The API server runs as ``airflow api-server`` in its own session (so its own process group, which is
ended as a whole), on a free loopback port, with a throwaway ``AIRFLOW_HOME`` holding a freshly
migrated SQLite database. Nothing here touches the session's ``AIRFLOW_HOME`` from ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.local_http import free_ports, http_json

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# Set by .ci/run: a missing browser then fails the test instead of skipping it.
REQUIRE_ENV = "DOMO_REQUIRE_BROWSER_TESTS"
# Without the background-networking flags Chromium keeps dialling Google on a closed network.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
)
# The airflow executable of the environment running the tests (CI's .venv, or a developer's venv).
AIRFLOW_EXE = Path(sys.executable).parent / "airflow"
# Migrating takes about 6 s and the API server about 15 s on 2 cores; both get ample room.
MIGRATE_TIMEOUT = 180.0
START_TIMEOUT = 120.0


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0", "false", "False")


def require_browser() -> None:
    """Skip (or, when the browser is required, fail) unless Chromium and Playwright are both here."""
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("Python playwright is not installed (pip install -e '.[test]')")
    if not problems:
        return
    reason = "browser test needs Debian's Chromium and Python playwright: " + "; ".join(problems)
    if browser_required():
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires the browser tests to run.")
    pytest.skip(reason)


class AirflowApiServer:
    """``airflow api-server`` in a throwaway home, started by :meth:`start` and ended by :meth:`stop`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.home = workdir / "airflow-home"
        (self.home / "dags").mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "api-server.log"
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        # Nothing from the developer's shell or from conftest.py's session home leaks in.
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and name != "AIRFLOW_HOME"
        }
        loopback = "127.0.0.1,localhost"
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__API__PORT": str(self.port),
                # The hook calls the emulator on 127.0.0.1: never through a proxy.
                "NO_PROXY": ",".join(filter(None, [env.get("NO_PROXY"), loopback])),
                "no_proxy": ",".join(filter(None, [env.get("no_proxy"), loopback])),
            }
        )
        return env

    @property
    def airflow(self) -> str:
        return str(AIRFLOW_EXE) if AIRFLOW_EXE.exists() else "airflow"

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        """Run one airflow command against this home; fail the test with its output if it fails."""
        result = subprocess.run(
            [self.airflow, *args],
            env=self.env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            pytest.fail(
                f"`airflow {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def start(self) -> AirflowApiServer:
        self.cli("db", "migrate", timeout=MIGRATE_TIMEOUT)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        started = time.monotonic()
        while True:
            code = self.proc.poll()
            if code is not None:
                pytest.fail(f"airflow api-server exited with code {code} while starting.{self.log_tail()}")
            status, _ = http_json("GET", f"{self.url}/api/v2/monitor/health", timeout=5)
            if status == 200:
                print(f"[browser] API server ready after {time.monotonic() - started:.1f} s")
                return self
            if time.monotonic() - started > START_TIMEOUT:
                pytest.fail(f"airflow api-server not ready after {START_TIMEOUT:.0f} s.{self.log_tail()}")
            time.sleep(0.5)

    def stop(self) -> None:
        """End the server's whole process group (its workers too): SIGTERM, then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        # Workers may outlive their leader: the group goes, whatever is left of it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"\n<api-server log unreadable: {exc}>"
        kept = [line for line in text if "[http.access]" not in line][-lines:]
        return f"\n----- {self.log_path}, last {len(kept)} lines -----\n" + "\n".join(kept)

    def __enter__(self) -> AirflowApiServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
