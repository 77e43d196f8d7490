"""
A real deployment on one machine: the deferred wait survives a triggerer killed with SIGKILL.

The API server, scheduler (LocalExecutor on SQLite), DAG processor and triggerer run as separate
processes, each in its own process group, with their own throwaway ``AIRFLOW_HOME`` under ``tmp_path``
(never the session one from ``conftest.py``), against the Domo Workflows emulator run as a process too.
The example DAG ``example_domo_workflows_deferrable`` starts one instance and defers; the triggerer
holding its trigger is killed (its whole process group, trigger runner included), a new triggerer takes
the trigger over, the instance is finished through the emulator's admin route, and the run must succeed
with exactly one instance started, and that instance COMPLETED, never cancelled.

LocalExecutor on the default SQLite database works on Airflow 3.3 (no Postgres needed). About 45 s on
a 2-core machine; every wait is bounded by its own limit and by an overall budget of 270 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.local_http import free_ports, http_json

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "example_domo_workflows_deferrable"
TASK_ID = "run_workflow"
RUN_ID = "deployment_test_run"
# The airflow executable of the environment running the tests (CI's .venv, or a developer's venv).
BIN_DIR = Path(sys.executable).parent
# Instances run for an hour: only the test ends them, through the emulator's admin route.
EMULATOR_ARGS = ("--port", "0", "--run-seconds", "3600")
BUDGET_SECONDS = 270.0  # the whole test, set-up included, stays under five minutes

T = TypeVar("T")


class Deployment:
    """The processes this test started, their logs, and bounded waits that report the logs on failure."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.home = tmp_path / "airflow-home"
        self.home.mkdir()
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.deadline = time.monotonic() + BUDGET_SECONDS
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.log_files: dict[str, Path] = {}
        self.gone: set[str] = set()  # groups already killed and waited for: never signalled again
        self.api_port, self.worker_log_port, self.trigger_log_port = free_ports(3)
        self.api = f"http://127.0.0.1:{self.api_port}/api/v2"
        self.emulator_url = ""
        self.env: dict[str, str] = {}

    # -- processes ------------------------------------------------------------------------------------

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a process in its own session (and so its own process group), logging to a file."""
        log_path = self.logs / f"{name}.log"
        self.log_files[name] = log_path
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env if env is not None else self.env,
                cwd=self.tmp_path,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def airflow(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.start(name, [self.airflow_exe, *args])

    @property
    def airflow_exe(self) -> str:
        exe = BIN_DIR / "airflow"
        return str(exe) if exe.exists() else "airflow"

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        """Run one airflow CLI command to its end; fail the test with its output if it fails."""
        result = subprocess.run(
            [self.airflow_exe, *args],
            env=self.env,
            cwd=self.tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=min(timeout, max(self.remaining(), 1.0)),
        )
        if result.returncode != 0:
            pytest.fail(
                f"`airflow {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}{self.tails()}"
            )
        return result.stdout

    @staticmethod
    def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """Signal the process group this test started for ``proc`` (its pid is the group id)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def kill_group(self, name: str) -> None:
        proc = self.procs[name]
        self.signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=30)
        self.gone.add(name)

    def stop_all(self) -> None:
        """End every process group this test started: SIGTERM, then SIGKILL what is left after a while."""
        procs = [proc for name, proc in self.procs.items() if name not in self.gone]
        for proc in procs:
            self.signal_group(proc, signal.SIGTERM)
        grace_until = time.monotonic() + 8
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(grace_until - time.monotonic(), 0.1))
        # Children (LocalExecutor workers, the trigger runner, API workers) may outlive their leader.
        for proc in procs:
            self.signal_group(proc, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    # -- waiting --------------------------------------------------------------------------------------

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def tails(self, lines: int = 40) -> str:
        parts = []
        for name, path in self.log_files.items():
            try:
                # The API server's access log only echoes this test's polls: leave it out.
                all_lines = path.read_text(errors="replace").splitlines()
                text = [line for line in all_lines if "[http.access]" not in line][-lines:]
            except OSError as exc:
                text = [f"<unreadable: {exc}>"]
            parts.append(f"\n----- {name} ({path}), last {len(text)} lines -----\n" + "\n".join(text))
        return "".join(parts)

    def check_alive(self, *names: str) -> None:
        for name in names:
            code = self.procs[name].poll()
            if code is not None:
                pytest.fail(f"{name} exited with code {code} while the test needed it.{self.tails()}")

    def wait_for(
        self,
        what: str,
        probe: Callable[[], T | None],
        limit: float,
        alive: tuple[str, ...] = (),
        describe: Callable[[], str] = lambda: "",
        interval: float = 1.0,
    ) -> T:
        """Poll ``probe`` until it answers something other than None, at most ``limit`` seconds."""
        started = time.monotonic()
        until = min(started + limit, self.deadline)
        while True:
            self.check_alive(*alive)
            value = probe()
            if value is not None:
                print(f"[deployment] {what}: after {time.monotonic() - started:.1f} s")
                return value
            if time.monotonic() >= until:
                budget = " (the test's overall time budget ran out)" if until == self.deadline else ""
                pytest.fail(
                    f"Timed out after {time.monotonic() - started:.0f} s{budget} waiting for {what}. "
                    f"{describe()}{self.tails()}"
                )
            time.sleep(interval)

    # -- reads ----------------------------------------------------------------------------------------

    def emulator_instances(self) -> list[dict[str, Any]]:
        status, body = http_json("GET", f"{self.emulator_url}/_emulator/instances")
        assert status == 200, f"emulator admin route answered {status}: {body}"
        return list(body["instances"])

    def emulator_requests(self) -> list[dict[str, Any]]:
        status, body = http_json("GET", f"{self.emulator_url}/_emulator/requests")
        assert status == 200, f"emulator admin route answered {status}: {body}"
        return list(body["requests"])

    def status_polls(self) -> int:
        """How many ``/overall`` reads (the waits' status polls) the emulator has served so far."""
        return sum(1 for r in self.emulator_requests() if r["path"].endswith("/overall"))

    def task_instance(self) -> dict[str, Any] | None:
        status, body = http_json("GET", f"{self.api}/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/{TASK_ID}")
        return body if status == 200 else None

    def dag_run_state(self) -> str | None:
        status, body = http_json("GET", f"{self.api}/dags/{DAG_ID}/dagRuns/{RUN_ID}")
        return body.get("state") if status == 200 else None

    def trigger_holder(self) -> tuple[int | None, int | None]:
        """The task's trigger id and the triggerer job running it, read straight from the SQLite file."""
        db = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=10)
        try:
            row = db.execute(
                "SELECT t.id, t.triggerer_id FROM task_instance ti JOIN trigger t ON ti.trigger_id = t.id"
                " WHERE ti.dag_id = ? AND ti.run_id = ? AND ti.task_id = ?",
                (DAG_ID, RUN_ID, TASK_ID),
            ).fetchone()
        finally:
            db.close()
        return (row[0], row[1]) if row else (None, None)


def test_a_deferred_wait_survives_a_killed_triggerer_and_ends_once(tmp_path: Path) -> None:
    d = Deployment(tmp_path)
    components = ("api-server", "scheduler", "dag-processor")
    try:
        # 1. The emulator, in its own process group; instances run until the test finishes them.
        emulator_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        d.start(
            "emulator",
            [sys.executable, "-m", "airflow_provider_domo_workflows.emulator", *EMULATOR_ARGS],
            env=emulator_env,
        )
        marker = "Domo Workflows emulator listening on "

        def emulator_url() -> str | None:
            for line in d.log_files["emulator"].read_text(errors="replace").splitlines():
                if line.startswith(marker):
                    return line[len(marker) :].strip()
            return None

        d.emulator_url = d.wait_for("the emulator to listen", emulator_url, 30, alive=("emulator",))

        # 2. A throwaway Airflow home of this test's own; nothing inherited from the session's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "PATH": f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(d.home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(d.api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{d.api_port}/execution/",
                # The log servers default to fixed ports (8793, 8794): take free ones.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(d.worker_log_port),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(d.trigger_log_port),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                # A triggerer silent for 10 s counts as dead, and its triggers go to a live one.
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT": json.dumps(
                    {"conn_type": "domo_workflows", "host": d.emulator_url, "password": "emulator-token"}
                ),
            }
        )
        d.env = env
        d.cli("db", "migrate")

        # 3. Each component in its own process group.
        d.airflow("api-server", "api-server")
        d.airflow("scheduler", "scheduler")
        d.airflow("dag-processor", "dag-processor")
        first_triggerer = d.airflow("triggerer-1", "triggerer")
        everything = (*components, "triggerer-1")

        def dag_registered() -> bool | None:
            status, _ = http_json("GET", f"{d.api}/dags/{DAG_ID}")
            return True if status == 200 else None

        d.wait_for(f"the API server to list DAG {DAG_ID}", dag_registered, 120, alive=everything)

        # 4. Unpause and trigger through the CLI, then wait until the task is deferred on one instance.
        d.cli("dags", "unpause", DAG_ID)
        d.cli("dags", "trigger", DAG_ID, "--run-id", RUN_ID)

        def deferred_on_one_instance() -> dict[str, Any] | None:
            ti = d.task_instance()
            if not ti or ti.get("state") != "deferred" or len(d.emulator_instances()) != 1:
                return None
            trigger_id, triggerer_id = d.trigger_holder()
            return ti if trigger_id is not None and triggerer_id is not None else None

        def progress() -> str:
            ti = d.task_instance() or {}
            return (
                f"Task {TASK_ID}: state {ti.get('state')!r}, try {ti.get('try_number')}; run "
                f"{d.dag_run_state()!r}; emulator instances {d.emulator_instances()}; "
                f"trigger (id, triggerer job) {d.trigger_holder()}."
            )

        deferred_ti = d.wait_for(
            f"{TASK_ID} to be deferred, its trigger running in the triggerer",
            deferred_on_one_instance,
            120,
            alive=everything,
            describe=progress,
        )
        (instance,) = d.emulator_instances()
        instance_id = instance["id"]
        assert instance["status"] in (None, "null", "IN_PROGRESS"), instance
        trigger_id, killed_job = d.trigger_holder()
        # The triggerer about to be killed really runs the wait: its trigger polls every 2 s.
        polls = d.status_polls()
        d.wait_for(
            "the first triggerer's trigger to poll the emulator",
            lambda: True if d.status_polls() > polls else None,
            30,
            alive=everything,
            describe=progress,
        )

        # 5. SIGKILL the triggerer's whole process group (trigger runner included), then start another.
        d.kill_group("triggerer-1")
        assert first_triggerer.returncode == -signal.SIGKILL
        time.sleep(3)
        after_kill = d.task_instance() or {}
        assert after_kill.get("state") == "deferred", f"not deferred after the kill: {progress()}"
        d.airflow("triggerer-2", "triggerer")
        survivors = (*components, "triggerer-2")

        def taken_over() -> int | None:
            current, holder = d.trigger_holder()
            assert current == trigger_id, f"the task's trigger changed from {trigger_id} to {current}"
            return holder if holder is not None and holder != killed_job else None

        new_job = d.wait_for(
            "the new triggerer to take the trigger over", taken_over, 90, alive=survivors, describe=progress
        )
        # The resumed wait polls the still-running instance before the test ends it.
        polls = d.status_polls()
        d.wait_for(
            "the new triggerer's trigger to poll the emulator",
            lambda: True if d.status_polls() > polls else None,
            30,
            alive=survivors,
            describe=progress,
        )
        assert [i["status"] for i in d.emulator_instances()] == ["IN_PROGRESS"], d.emulator_instances()
        after_takeover = d.task_instance() or {}
        assert after_takeover.get("state") == "deferred", f"not deferred after the takeover: {progress()}"

        # 6. Finish the instance through the emulator's admin route.
        status, body = http_json(
            "POST", f"{d.emulator_url}/_emulator/instances/{instance_id}/finish", {"status": "COMPLETED"}
        )
        assert status == 200, f"finishing {instance_id} answered {status}: {body}"

        # 7. The run ends, bounded.
        def run_ended() -> str | None:
            state = d.dag_run_state()
            return state if state in ("success", "failed") else None

        final_state = d.wait_for("the DAG run to end", run_ended, 180, alive=survivors, describe=progress)

        # 8. One instance, started once, COMPLETED (never cancelled), and the run succeeded.
        assert final_state == "success", f"DAG run ended {final_state}. {progress()}{d.tails()}"
        instances = d.emulator_instances()
        assert [i["id"] for i in instances] == [instance_id], f"more than one instance started: {instances}"
        assert instances[0]["status"] == "COMPLETED", f"the instance was not left COMPLETED: {instances}"
        requests = d.emulator_requests()
        starts = [r for r in requests if r["method"] == "POST" and r["path"].endswith("/start")]
        cancels = [r for r in requests if r["path"].endswith("/cancel")]
        assert len(starts) == 1, f"expected one start request, got {starts}"
        assert cancels == [], f"the instance was cancelled: {cancels}"
        ti = d.task_instance()
        assert ti is not None
        assert ti["state"] == "success", ti
        assert ti["try_number"] == deferred_ti["try_number"], f"the task was retried: {ti}"
        assert new_job != killed_job
        status, xcom = http_json(
            "GET", f"{d.api}/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/{TASK_ID}/xcomEntries/return_value"
        )
        assert status == 200, xcom
        assert xcom["value"] == instance_id, xcom
    except Exception:
        # pytest.fail messages carry the logs already; a plain failed assert gets them here.
        print(d.tails(), file=sys.stderr)
        raise
    finally:
        d.stop_all()
