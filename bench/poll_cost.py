"""The cost of one sensor poke finding a freshly started instance, against the size of its history.

For each history size (``--sizes``, default 10, 1,000, 10,000 and 100,000 past instances), a fresh emulator
(``EmulatorServer`` on loopback, default order: oldest first, so the new instance comes last) gets that
history, and one ``AddTwoNumbers`` instance is started through ``DomoWorkflowsClient``. Then a poke of a
sensor in another process is measured, with a client of its own: ``find_instance_metric(...,
created_after=<the DAG run's start>)``, taken as the instance's ``created_on`` less one minute; the same
poke told when Domo created the instance (the sensor's ``created_on``, from the start task's XCom); the
read through a connection with ``instance_read="instance"`` (one ``GET {api_root}/instances/{id}``); and the
naive full scan, ``created_after=None``, which pages the whole history. Then a later poll of a wait that has
seen its instance running, after 1,000 other runs started, with and without the window's end.

For each read the script reports the requests and response bytes the emulator logged (``request_log``
entries after a mark taken just before the read) and the wall time, the median of ``--repeats`` reads
(default 5; ``--full-scan-repeats`` for the full scan, default the same; one full scan of 100,000 takes tens
of seconds). Each client's connection is opened before it is timed, as a sensor's hook keeps it open.

Goal: a poke's requests, time and bytes at 100,000 are within 1.5x of those at 10. A search not told the
creation time reads every instance started in its window (the run's start less a 10-minute clock margin),
which the emulator's history spreads over 30 days.

Run::

    .venv/bin/python bench/poll_cost.py [--sizes 10,1000,10000,100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from machine import machine_info  # bench/machine.py; scripts run from bench/ see it

from airflow_provider_domo_workflows.client import DomoConnectionConfig, DomoWorkflowsClient, InstanceMetric
from airflow_provider_domo_workflows.emulator import EmulatorServer, EmulatorState

WORKFLOW = "AddTwoNumbers"
DEFAULT_SIZES = (10, 1_000, 10_000, 100_000)
GOAL_RATIO = 1.5
# The sensor's default started_after is the DAG run's start: a moment before the instance was created.
RUN_STARTED_BEFORE_INSTANCE = timedelta(minutes=1)
# Other runs of the workflow started while the wait goes on, before the later poll is measured.
RUNS_DURING_THE_WAIT = 1_000


@dataclass(frozen=True)
class SearchCost:
    """What one way of searching cost: requests and bytes of one search, median wall time of several."""

    requests: int
    response_bytes: int
    median_seconds: float


@dataclass(frozen=True)
class Row:
    """The three reads at one history size."""

    history: int
    narrowed: SearchCost
    told: SearchCost
    direct: SearchCost
    full_scan: SearchCost
    later: SearchCost
    later_unpinned: SearchCost


def measure_search(
    state: EmulatorState, search: Callable[[], InstanceMetric | None], repeats: int
) -> SearchCost:
    """Run ``search`` ``repeats`` times; count the first one's requests and bytes, time every one."""
    seconds = []
    requests = response_bytes = 0
    for index in range(repeats):
        mark = len(state.request_log)
        start = time.perf_counter()
        found = search()
        seconds.append(time.perf_counter() - start)
        if found is None:
            raise RuntimeError("The search did not find the instance it was measuring.")
        if index == 0:
            served = state.request_log[mark:]
            requests, response_bytes = len(served), sum(record.response_bytes for record in served)
    return SearchCost(requests, response_bytes, statistics.median(seconds))


def measure_size(history: int, repeats: int, full_scan_repeats: int) -> Row:
    """Start an emulator with ``history`` past instances, start one instance, and measure every read."""
    with EmulatorServer() as server:
        state = server.state
        state.add_history(WORKFLOW, history)
        config = DomoConnectionConfig.build(host=server.url, token=server.token)
        with DomoWorkflowsClient(config) as starter:
            instance = starter.start_workflow(WORKFLOW, {"a": 1, "b": 2})
        created_on = instance.created_on
        if created_on is None:
            raise RuntimeError("The emulator's start answer has no createdOn.")
        run_started = created_on - RUN_STARTED_BEFORE_INSTANCE

        def poll(domo: DomoWorkflowsClient) -> InstanceMetric | None:
            return domo.find_instance_metric(WORKFLOW, instance.id, created_after=run_started)

        # A sensor in another process than the start: it knows the run's start, and, when given the
        # start task's XCom created_on, when Domo created the instance. Each search starts afresh.
        with DomoWorkflowsClient(config) as blind, DomoWorkflowsClient(config) as told:

            def blind_poll() -> InstanceMetric | None:
                blind.pins.drop([instance.id])
                return poll(blind)

            def told_poll() -> InstanceMetric | None:
                told.pins.drop([instance.id])
                told.pins.seed(instance.id, created_on)
                return poll(told)

            narrowed = measure_search(state, blind_poll, repeats)
            told_first = measure_search(state, told_poll, repeats)
        with DomoWorkflowsClient(config) as scanner:
            full_scan = measure_search(
                state, lambda: scanner.find_instance_metric(WORKFLOW, instance.id), full_scan_repeats
            )
        direct_config = DomoConnectionConfig.build(
            host=server.url, token=server.token, instance_read="instance"
        )
        with DomoWorkflowsClient(direct_config) as direct_client:
            direct_client.find_instance_metric(WORKFLOW, instance.id)  # opens the connection, as a hook would
            direct = measure_search(
                state, lambda: direct_client.find_instance_metric(WORKFLOW, instance.id), repeats
            )

        # Later in the wait: the waiting client (not told the creation time) has seen the instance
        # running, and so its start time; then other runs of the workflow started, a moment later.
        time.sleep(state.workflow(WORKFLOW).pending_seconds + 0.2)
        with DomoWorkflowsClient(config) as waiting, DomoWorkflowsClient(config) as forgetful:
            if poll(waiting) is None:
                raise RuntimeError("The waiting client did not find the instance.")
            time.sleep(1.2)
            for n in range(RUNS_DURING_THE_WAIT):
                state.start(WORKFLOW, {"a": n, "b": 1})
            time.sleep(state.listing_delay_seconds)
            later = measure_search(state, lambda: poll(waiting), repeats)

            def unpinned() -> InstanceMetric | None:
                # A client that never saw the instance's start time: a poke in reschedule mode, or a
                # search without an end.
                forgetful.pins.drop([instance.id])
                return poll(forgetful)

            later_unpinned = measure_search(state, unpinned, repeats)
    return Row(history, narrowed, told_first, direct, full_scan, later, later_unpinned)


def report(rows: list[Row], repeats: int, full_scan_repeats: int) -> None:
    """Print the table and the ratio of the largest history to the smallest for each way of reading."""
    print(
        f"\nOne read of a just-started instance; time is the median of {repeats} reads "
        f"({full_scan_repeats} for the full scan)"
    )
    ways = ("narrowed /overall search", "told created_on", "one-instance route", "full scan of /overall")
    print(f"{'':>9} | " + " | ".join(f"{way:^30}" for way in ways))
    print(f"{'history':>9} | " + " | ".join(f"{'requests':>8}{'bytes':>11}{'ms':>11}" for _ in ways))
    for row in rows:
        cells = [
            f"{cost.requests:>8,}{cost.response_bytes:>11,}{cost.median_seconds * 1000:>11.2f}"
            for cost in (row.narrowed, row.told, row.direct, row.full_scan)
        ]
        print(f"{row.history:>9,} | " + " | ".join(cells))
    print(
        f"\nA later poll of the same wait, after {RUNS_DURING_THE_WAIT:,} other runs started during it; "
        f"median of {repeats}"
    )
    later_ways = ("window ended after its start", "window without an end")
    print(f"{'':>9} | " + " | ".join(f"{way:^30}" for way in later_ways))
    print(f"{'history':>9} | " + " | ".join(f"{'requests':>8}{'bytes':>11}{'ms':>11}" for _ in later_ways))
    for row in rows:
        cells = [
            f"{cost.requests:>8,}{cost.response_bytes:>11,}{cost.median_seconds * 1000:>11.2f}"
            for cost in (row.later, row.later_unpinned)
        ]
        print(f"{row.history:>9,} | " + " | ".join(cells))
    if len(rows) < 2:
        return
    small = min(rows, key=lambda row: row.history)
    large = max(rows, key=lambda row: row.history)
    print(f"\nHistory {large.history:,} / history {small.history:,} (goal: each within {GOAL_RATIO:g}x):")
    for way, big, little in (
        ("narrowed /overall search", large.narrowed, small.narrowed),
        ("told created_on", large.told, small.told),
        ("one-instance route", large.direct, small.direct),
    ):
        ratios = {
            "requests": big.requests / little.requests,
            "time": big.median_seconds / little.median_seconds,
            "bytes": big.response_bytes / little.response_bytes,
        }
        verdict = "MET" if all(ratio <= GOAL_RATIO for ratio in ratios.values()) else "NOT MET"
        figures = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items())
        print(f"  {way:<26} {figures}: {verdict}")
    print(
        f"\nA later poll / the first poll, at each history ({RUNS_DURING_THE_WAIT:,} runs started between):"
    )
    for row in rows:
        grown = row.later.response_bytes / row.narrowed.response_bytes
        unended = row.later_unpinned.response_bytes / row.narrowed.response_bytes
        print(
            f"  history {row.history:>7,}: requests {row.later.requests / row.narrowed.requests:.2f}x, "
            f"bytes {grown:.2f}x (without an end: bytes {unended:.2f}x)"
        )


def parse_sizes(text: str) -> list[int]:
    """Parse ``10,1000,10_000`` into history sizes."""
    try:
        sizes = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not sizes or any(size < 0 for size in sizes):
        raise argparse.ArgumentTypeError("give at least one history size, none negative")
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, measure every size and print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated history sizes (default: 10,1000,10000,100000)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="searches timed per size (default: %(default)s)"
    )
    parser.add_argument(
        "--full-scan-repeats", type=int, default=None, help="full scans timed per size (default: --repeats)"
    )
    args = parser.parse_args(argv)
    full_scan_repeats = args.repeats if args.full_scan_repeats is None else args.full_scan_repeats
    if args.repeats < 1 or full_scan_repeats < 1:
        parser.error("--repeats and --full-scan-repeats must be at least 1")
    print(machine_info(), flush=True)
    rows = []
    for size in args.sizes:
        print(f"history {size:,} ...", file=sys.stderr, flush=True)
        rows.append(measure_size(size, args.repeats, full_scan_repeats))
    report(rows, args.repeats, full_scan_repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
