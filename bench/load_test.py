"""
Load test: concurrent deferred waits against an emulator that injects faults, as a triggerer meets them.

500 waits (the real ``WorkflowInstanceTrigger``, in one event loop) on 5 workflows, while the
emulator, in its own process, answers 5% of reads with a 5xx, 2% with a 429 and ``Retry-After``,
and drops 1% of connections; the instances end at random moments in random end states. Printed:
waits started and ended with the right status, waits lost (must be 0), instances started twice
(must be 0), requests made and faults met (each one retried), the delay between an instance ending
and its wait noticing (p50, p99), and peak memory.

    .venv/bin/python bench/load_test.py
    .venv/bin/python bench/load_test.py --waits 200 --spread 10 --rate-5xx 0.1

Loopback only; bounded in count and time (the run gives up after the spread plus a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sys

import httpx
from machine import machine_info  # bench/machine.py; scripts run from bench/ see it
from shared_polling import emulator_process, percentile, run_waits, start_instances


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, default=500, help="concurrent waits (default %(default)s)")
    parser.add_argument("--workflows", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--spread", type=float, default=20.0, help="seconds over which the instances end")
    parser.add_argument("--rate-5xx", type=float, default=0.05)
    parser.add_argument("--rate-429", type=float, default=0.02)
    parser.add_argument("--rate-drop", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from airflow_provider_domo_workflows.emulator.state import DEFAULT_TOKEN

    logging.getLogger("airflow_provider_domo_workflows").setLevel(logging.ERROR)
    logging.getLogger("airflow").setLevel(logging.ERROR)
    workflows = ["AddTwoNumbers", *(f"Workflow{n}" for n in range(2, args.workflows + 1))]
    faults = [
        *("--fault-rate-5xx", str(args.rate_5xx), "--fault-rate-429", str(args.rate_429)),
        *("--fault-rate-drop", str(args.rate_drop), "--fault-seed", str(args.seed), "--faults-only-get"),
    ]
    print(machine_info())
    with emulator_process(*faults) as url:
        # The provider's defaults: 3 retries, at most 30 s apart; 429s ask for 1 s.
        os.environ["AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT"] = json.dumps(
            {"conn_type": "domo_workflows", "host": url, "password": DEFAULT_TOKEN}
        )
        instances = start_instances(url, DEFAULT_TOKEN, workflows, args.waits // len(workflows))
        result = asyncio.run(run_waits(url, instances, args.poll_interval, args.spread, args.seed))
        with httpx.Client(base_url=url, timeout=60) as admin:
            requests = admin.get("/_emulator/requests").json()
            counts = admin.get("/_emulator/faults").json()["counts"]
            started = len(admin.get("/_emulator/instances").json()["instances"])

    delays = result["delays"]
    reads = sum(count for route, count in requests["byRoute"].items() if route.endswith("/overall"))
    rates = f"{args.rate_5xx:.0%} 5xx, {args.rate_429:.0%} 429, {args.rate_drop:.0%} dropped"
    lines = [
        f"waits started: {len(instances)} on {len(workflows)} workflows; "
        f"poll interval {args.poll_interval:g} s; faults on reads: {rates}",
        f"ended with the right status: {result['right']}   wrong: {result['wrong']}   lost: {result['lost']}",
        f"instances started: {started} for {len(instances)} waits "
        f"(started twice: {started - len(instances)})",
        f"requests: {requests['total']} in all, {reads} reads of /overall; faults met, each retried: "
        + ", ".join(f"{kind} {count}" for kind, count in counts.items() if count),
        f"delay from an instance ending to its wait noticing: p50 {percentile(delays, 0.5):.2f} s, "
        f"p99 {percentile(delays, 0.99):.2f} s, max {max(delays, default=float('nan')):.2f} s",
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
        f"run {result['wall']:.1f} s",
    ]
    print("\n".join(lines))
    return 0 if result["lost"] == result["wrong"] == 0 and started == len(instances) else 1


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    sys.exit(main())
