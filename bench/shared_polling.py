"""
Shared polling and triggerer footprint: many concurrent deferred waits in one triggerer-like event loop.

The emulator runs in its own process (so it does not compete with the waits for the GIL), with 5
workflows whose instances run until this script ends them, at random times and in random end
states. The real ``WorkflowInstanceTrigger`` waits on each instance, all in one asyncio event loop,
as Airflow's triggerer runs them. Printed: the ``/overall`` requests Domo would see per poll
interval, the waits that ended with the right status (and any lost), the delay between an instance
ending and its wait noticing (p50, p99, max), the loop's CPU time, peak memory and bytes per wait.

The unshared baseline (every wait reading ``/overall`` for itself on the same ticks, as a trigger
without sharing does) runs for a few ticks on running instances, to count its requests per interval.

    .venv/bin/python bench/shared_polling.py                   # 1,000 waits over 5 workflows
    .venv/bin/python bench/shared_polling.py --waits 200 --spread 10

Loopback only; bounded in count and time; the emulator process is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from machine import machine_info  # bench/machine.py; scripts run from bench/ see it

OVERALL_ROUTE = "/models/{workflow}/overall"
END_STATES = ("COMPLETED", "FAILED", "CANCELED")


@contextmanager
def emulator_process(*options: str) -> Iterator[str]:
    """The emulator's command line on a free port, run for as long as the block; yields its URL."""
    command = [sys.executable, "-m", "airflow_provider_domo_workflows.emulator", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--run-seconds", "86400", *options],
        stdout=subprocess.PIPE,
        # uvicorn reports each dropped connection on stderr: a line per injected fault, not news.
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def overall_requests(admin: httpx.Client) -> int:
    by_route = admin.get("/_emulator/requests").json()["byRoute"]
    return sum(count for route, count in by_route.items() if route.endswith(OVERALL_ROUTE))


def start_instances(url: str, token: str, workflows: list[str], per_workflow: int) -> dict[str, str]:
    """Deploy the workflows and start their instances; map each instance id to its workflow."""
    instances: dict[str, str] = {}
    with httpx.Client(base_url=url, headers={"X-DOMO-Developer-Token": token}, timeout=30) as api:
        for alias in workflows[1:]:
            spec = {"alias": alias, "name": alias, "run_seconds": 86400}
            api.post("/_emulator/workflows", json=spec).raise_for_status()
        for alias in workflows:
            for _ in range(per_workflow):
                answer = api.post(f"/api/workflow/v1/models/{alias}/start", json={"a": 1, "b": 2})
                instances[answer.json()["id"]] = alias
    return instances


async def run_waits(
    url: str, instances: dict[str, str], poll_interval: float, spread: float, seed: int
) -> dict[str, Any]:
    """Wait on every instance with the real trigger while a finisher ends them; measure what happens."""
    from airflow_provider_domo_workflows.triggers.domo_workflows import WorkflowInstanceTrigger

    created_after = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    rng = random.Random(seed)
    planned = {instance_id: rng.choice(END_STATES) for instance_id in instances}
    ended_at: dict[str, float] = {}
    noticed: dict[str, tuple[float, str]] = {}

    async def wait(instance_id: str, alias: str) -> None:
        trigger = WorkflowInstanceTrigger(
            workflow_alias=alias,
            instance_id=instance_id,
            created_after=created_after,
            poll_interval=poll_interval,
        )
        async for event in trigger.run():
            metric = event.payload.get("instance_metric") or {}
            noticed[instance_id] = (time.monotonic(), str(metric.get("status", event.payload.get("status"))))
            return

    async def finisher() -> None:
        order = list(instances)
        rng.shuffle(order)
        async with httpx.AsyncClient(base_url=url, timeout=30) as admin:
            started = time.monotonic()
            for index, instance_id in enumerate(order):
                due = started + spread * index / len(order)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                answer = await admin.post(
                    f"/_emulator/instances/{instance_id}/finish", json={"status": planned[instance_id]}
                )
                answer.raise_for_status()
                ended_at[instance_id] = time.monotonic()

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    wall_started = time.monotonic()
    waits = [asyncio.create_task(wait(i, alias)) for i, alias in instances.items()]
    # Let every wait register and make its first read before measuring what the waits hold.
    await asyncio.sleep(min(3 * poll_interval, spread / 2))
    held = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    # Tracing every allocation slows Python down: off before the part whose CPU time is measured.
    tracemalloc.stop()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_started = time.monotonic()
    finishing = asyncio.create_task(finisher())
    deadline = spread + 5 * poll_interval + 30
    await asyncio.wait_for(asyncio.gather(finishing, *waits), timeout=deadline)
    wall = time.monotonic() - wall_started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)

    delays = sorted(noticed[i][0] - ended_at[i] for i in instances if i in noticed and i in ended_at)
    return {
        "wall": wall,
        "right": sum(1 for i in instances if i in noticed and noticed[i][1] == planned[i]),
        "wrong": sum(1 for i in instances if i in noticed and noticed[i][1] != planned[i]),
        "lost": sum(1 for i in instances if i not in noticed),
        "delays": delays,
        "cpu": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
        "cpu_wall": time.monotonic() - cpu_started,
        "held_bytes": held,
    }


async def unshared_ticks(url: str, token: str, instances: dict[str, str], ticks: int) -> None:
    """The baseline: every wait reads /overall for its own instance, once per tick."""
    from airflow_provider_domo_workflows.client import DomoConnectionConfig
    from airflow_provider_domo_workflows.client.async_client import AsyncDomoWorkflowsClient

    created_after = datetime.now(timezone.utc) - timedelta(minutes=5)
    config = DomoConnectionConfig.build(host=url, token=token, timeout=300)
    limits = httpx.Limits(max_connections=100)
    async with AsyncDomoWorkflowsClient(config, transport=httpx.AsyncHTTPTransport(limits=limits)) as client:
        for _ in range(ticks):
            await asyncio.gather(
                *(
                    client.find_instance_metric(alias, i, created_after=created_after)
                    for i, alias in instances.items()
                )
            )


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(fraction * len(values)))] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, default=1000, help="concurrent waits (default %(default)s)")
    parser.add_argument("--workflows", type=int, default=5, help="workflows they spread over")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="seconds between polls of each wait")
    parser.add_argument("--spread", type=float, default=20.0, help="seconds over which the instances end")
    parser.add_argument("--baseline-ticks", type=int, default=3, help="ticks of the unshared baseline")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from airflow_provider_domo_workflows.emulator.state import DEFAULT_TOKEN

    # One line per state change of a thousand waits says nothing here.
    logging.getLogger("airflow_provider_domo_workflows").setLevel(logging.WARNING)
    logging.getLogger("airflow").setLevel(logging.WARNING)

    workflows = ["AddTwoNumbers", *(f"Workflow{n}" for n in range(2, args.workflows + 1))]
    per_workflow = args.waits // len(workflows)
    print(machine_info())
    with emulator_process() as url:
        os.environ["AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT"] = json.dumps(
            {"conn_type": "domo_workflows", "host": url, "password": DEFAULT_TOKEN, "extra": {"timeout": 120}}
        )
        admin = httpx.Client(base_url=url, timeout=60)

        baseline_instances = start_instances(url, DEFAULT_TOKEN, workflows, per_workflow)
        mark = overall_requests(admin)
        asyncio.run(unshared_ticks(url, DEFAULT_TOKEN, baseline_instances, args.baseline_ticks))
        unshared_per_tick = (overall_requests(admin) - mark) / args.baseline_ticks
        admin.post("/_emulator/reset").raise_for_status()

        instances = start_instances(url, DEFAULT_TOKEN, workflows, per_workflow)
        mark = overall_requests(admin)
        result = asyncio.run(run_waits(url, instances, args.poll_interval, args.spread, args.seed))
        shared_requests = overall_requests(admin) - mark
        admin.close()

    intervals = result["wall"] / args.poll_interval
    delays = result["delays"]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_share = 100 * result["cpu"] / result["cpu_wall"]
    per_wait_kib = result["held_bytes"] / len(instances) / 1024
    lines = [
        f"waits: {len(instances)} over {len(workflows)} workflows, poll interval {args.poll_interval:g} s",
        f"instances ended over {args.spread:g} s; the run took {result['wall']:.1f} s "
        f"({intervals:.1f} intervals)",
        f"ended with the right status: {result['right']}   wrong: {result['wrong']}   lost: {result['lost']}",
        f"/overall requests per interval: shared {shared_requests / intervals:.1f}, "
        f"unshared {unshared_per_tick:.0f}",
        f"delay from an instance ending to its wait noticing: p50 {percentile(delays, 0.5):.2f} s, "
        f"p99 {percentile(delays, 0.99):.2f} s, max {max(delays, default=float('nan')):.2f} s",
        f"process CPU while the instances ended: {result['cpu']:.1f} s over {result['cpu_wall']:.1f} s "
        f"({cpu_share:.0f}% of one core, the finisher's own requests included)",
        f"peak RSS {peak_mib:.0f} MiB; memory held by the waits {result['held_bytes'] / 2**20:.1f} MiB "
        f"({per_wait_kib:.1f} KiB per wait)",
    ]
    print("\n".join(lines))
    return 0 if result["lost"] == 0 and result["wrong"] == 0 else 1


if __name__ == "__main__":
    # Read by Airflow when it is first imported: keeps the waits' own info lines out of the figures.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    sys.exit(main())
