"""What a DAG file pays for importing this provider's operator and sensor, next to ``import airflow.sdk``.

Three sets of imports are measured, each in a fresh interpreter (a subprocess of ``sys.executable``):

(a) ``import airflow.sdk`` alone, the floor every DAG file pays;
(b) ``import airflow.sdk``, then this provider's ``operators.domo_workflows`` and ``sensors.domo_workflows``;
(c) ``import airflow.sdk``, then the dbt Cloud provider's ``operators.dbt`` and ``sensors.dbt``, for scale.

Time. Each child times its imports with ``time.perf_counter``. The added time of (b) or (c) is given two
ways: the difference between the medians of the whole sets, and the median of the time each child spent
after ``airflow.sdk`` was imported. ``import airflow.sdk`` alone takes over a second and varies by several
percent from run to run, so the first figure is noisy at the 3% scale; the second, measured inside the same
interpreter, is the robust one.

Memory. ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is the peak resident set size: what the operating
system sees, native memory included (shared libraries, pydantic-core's and other C extensions' own
allocations). It is the real cost to a worker, but it moves in page- and arena-sized steps and carries some
noise. A second, smaller series of children runs under ``tracemalloc`` (which slows imports several times
over, so their times are not used): the Python heap still held after the imports is close to deterministic,
hence the robust figure for comparing two changes to Python code, but it misses native allocations. The
``tracemalloc`` *peak* is printed too, but it is a poor measure of an addition: a small import that stays
under the transient peak reached while ``airflow.sdk`` loaded adds nothing to it.

The sets run ``--runs`` times (default 15), interleaved a, b, c, a, b, c, ... to spread drift in the
machine's load over all three; medians are printed. One unmeasured warm-up child per set first writes the
bytecode caches and whatever Airflow creates in its home. The children share a throwaway ``AIRFLOW_HOME``
and run with ``AIRFLOW__CORE__LOAD_EXAMPLES=False``.

Goal: this provider's set (b) costs at most +3% time and +3 MiB (peak RSS) over ``import airflow.sdk``.

Set (c) needs ``apache-airflow-providers-dbt-cloud``; this script never installs it, and skips (c) when it
is missing. Run::

    .venv/bin/python bench/import_cost.py [--runs 15] [--traced-runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine import machine_info  # bench/machine.py; scripts run from bench/ see it

SDK = ("airflow.sdk",)
SETS: dict[str, tuple[str, ...]] = {
    "a": SDK,
    "b": (
        *SDK,
        "airflow_provider_domo_workflows.operators.domo_workflows",
        "airflow_provider_domo_workflows.sensors.domo_workflows",
    ),
    "c": (*SDK, "airflow.providers.dbt.cloud.operators.dbt", "airflow.providers.dbt.cloud.sensors.dbt"),
}
LABELS = {
    "a": "(a) import airflow.sdk",
    "b": "(b) airflow.sdk + Domo Workflows operator, sensor",
    "c": "(c) airflow.sdk + dbt Cloud operator, sensor",
}
DBT_PACKAGE = "apache-airflow-providers-dbt-cloud"
MIB = 1024 * 1024
GOAL_PERCENT = 3.0
GOAL_MIB = 3.0
RESULT_MARK = "IMPORT_COST_RESULT "

# Run by each child: imports the modules named in argv, then prints one JSON line after RESULT_MARK.
CHILD = f"""
import importlib, json, resource, sys, time
trace = sys.argv[1] == "trace"
if trace:
    import tracemalloc
    tracemalloc.start()
modules_before = len(sys.modules)
try:
    start = time.perf_counter()
    importlib.import_module(sys.argv[2])
    after_first = time.perf_counter()
    for name in sys.argv[3:]:
        importlib.import_module(name)
    end = time.perf_counter()
except ImportError as error:
    print({RESULT_MARK!r} + json.dumps({{"error": f"{{type(error).__name__}}: {{error}}"}}))
    sys.exit(3)
current, peak = tracemalloc.get_traced_memory() if trace else (None, None)
result = {{
    "seconds": end - start,
    "extra_seconds": end - after_first,
    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "traced_current": current,
    "traced_peak": peak,
    "modules": len(sys.modules) - modules_before,
}}
print({RESULT_MARK!r} + json.dumps(result))
"""


@dataclass
class Samples:
    """The measurements of one set of imports, one entry per child."""

    seconds: list[float] = field(default_factory=list)
    extra_seconds: list[float] = field(default_factory=list)
    maxrss_bytes: list[int] = field(default_factory=list)
    traced_current_bytes: list[int] = field(default_factory=list)
    traced_peak_bytes: list[int] = field(default_factory=list)
    modules: list[int] = field(default_factory=list)


class ChildImportError(Exception):
    """A child could not import its set of modules."""


def run_child(modules: tuple[str, ...], env: dict[str, str], cwd: str, *, trace: bool) -> dict[str, Any]:
    """Import ``modules`` in a fresh interpreter and return what it measured."""
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, "trace" if trace else "plain", *modules],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        raise RuntimeError(
            f"The child importing {', '.join(modules)} exited with {completed.returncode} and no result:\n"
            f"{completed.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    if "error" in result:
        raise ChildImportError(str(result["error"]))
    return result


def child_env(airflow_home: str) -> dict[str, str]:
    """The environment of every child: this one, with a throwaway Airflow home and no examples."""
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = airflow_home
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def venv_pip() -> str:
    """The pip beside this interpreter, as a command to suggest."""
    pip = Path(sys.executable).with_name("pip")
    return str(pip) if pip.exists() else f"{sys.executable} -m pip"


def measure(runs: int, traced_runs: int) -> dict[str, Samples]:
    """Warm up, then run every available set interleaved: ``runs`` times plain, ``traced_runs`` traced."""
    with tempfile.TemporaryDirectory(prefix="import-cost-airflow-home-") as airflow_home:
        env = child_env(airflow_home)
        available = []
        for key, modules in SETS.items():
            try:
                run_child(modules, env, airflow_home, trace=False)
            except ChildImportError as error:
                if key != "c":
                    raise
                print(
                    f"SKIPPING (c): the dbt Cloud provider cannot be imported ({error}).\n"
                    f"  Install it with: {venv_pip()} install {DBT_PACKAGE}",
                    flush=True,
                )
                continue
            available.append(key)

        samples = {key: Samples() for key in available}
        for run in range(max(runs, traced_runs)):
            print(f"round {run + 1}/{max(runs, traced_runs)}", file=sys.stderr, flush=True)
            for trace in (False, True):
                if run >= (traced_runs if trace else runs):
                    continue
                for key in available:
                    result = run_child(SETS[key], env, airflow_home, trace=trace)
                    if trace:
                        samples[key].traced_current_bytes.append(int(result["traced_current"]))
                        samples[key].traced_peak_bytes.append(int(result["traced_peak"]))
                    else:
                        samples[key].seconds.append(result["seconds"])
                        samples[key].extra_seconds.append(result["extra_seconds"])
                        samples[key].maxrss_bytes.append(int(result["maxrss_kib"]) * 1024)
                        samples[key].modules.append(int(result["modules"]))
        return samples


def _ratio(cost_b: float, cost_c: float) -> str:
    return f"{cost_c / cost_b:.1f}x" if cost_b > 0 else "n/a ((b) adds nothing measurable)"


def report(samples: dict[str, Samples], runs: int, traced_runs: int) -> None:
    """Print the medians, the costs added over (a), their ratio, and the goal's verdict."""
    med = statistics.median
    time_ = {key: med(s.seconds) for key, s in samples.items()}
    extra = {key: med(s.extra_seconds) for key, s in samples.items()}
    rss = {key: med(s.maxrss_bytes) for key, s in samples.items()}
    held = {key: med(s.traced_current_bytes) for key, s in samples.items()}
    peak = {key: med(s.traced_peak_bytes) for key, s in samples.items()}
    modules = {key: med(s.modules) for key, s in samples.items()}

    print(f"\nMedians of {runs} fresh interpreters per set (tracemalloc: {traced_runs}), interleaved")
    print(
        f"{'set':<51}{'time ms':>9}{'min..max ms':>13}{'modules':>9}{'peak RSS MiB':>14}"
        f"{'traced held MiB':>17}{'traced peak MiB':>17}"
    )
    for key, s in samples.items():
        spread = f"{min(s.seconds) * 1000:.0f}..{max(s.seconds) * 1000:.0f}"
        print(
            f"{LABELS[key]:<51}{time_[key] * 1000:>9.1f}{spread:>13}{modules[key]:>9.0f}"
            f"{rss[key] / MIB:>14.2f}{held[key] / MIB:>17.2f}{peak[key] / MIB:>17.2f}"
        )

    if len(samples) < 2:
        return
    base_t, base_rss = time_["a"], rss["a"]
    print("\nAdded over (a)")
    print(
        f"{'set':<51}{'time ms (%), diff. of medians':>31}{'time ms (%), in-child':>24}"
        f"{'peak RSS MiB (%)':>19}{'traced held MiB':>17}"
    )
    added: dict[str, tuple[float, float, float, float]] = {}
    for key in samples:
        if key == "a":
            continue
        added[key] = (time_[key] - base_t, extra[key], rss[key] - base_rss, held[key] - held["a"])
        d_time, in_child, d_rss, d_held = added[key]
        print(
            f"{LABELS[key]:<51}{f'{d_time * 1000:+.1f} ({d_time / base_t * 100:+.1f}%)':>31}"
            f"{f'{in_child * 1000:+.1f} ({in_child / base_t * 100:+.1f}%)':>24}"
            f"{f'{d_rss / MIB:+.2f} ({d_rss / base_rss * 100:+.1f}%)':>19}{d_held / MIB:>+17.2f}"
        )

    if "b" in added and "c" in added:
        print("\nRatio (c)/(b) of the added costs")
        names = ("time, diff. of medians", "time, in-child", "peak RSS", "tracemalloc held")
        for index, name in enumerate(names):
            print(f"  {name:<24}{_ratio(added['b'][index], added['c'][index])}")

    if "b" in added:
        d_time, in_child, d_rss, _ = added["b"]
        rss_ok = d_rss <= GOAL_MIB * MIB
        print(f"\nGoal for (b): at most +{GOAL_PERCENT:g}% time and +{GOAL_MIB:g} MiB peak RSS over (a)")
        for name, seconds in (("in-child time", in_child), ("difference of medians", d_time)):
            percent = seconds / base_t * 100
            verdict = "MET" if percent <= GOAL_PERCENT and rss_ok else "NOT MET"
            print(f"  by {name:<22} {verdict:<8} ({percent:+.1f}%, {d_rss / MIB:+.2f} MiB)")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, measure and print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=15, help="children per set (default: %(default)s)")
    parser.add_argument(
        "--traced-runs",
        type=int,
        default=3,
        help="children per set under tracemalloc, which is near deterministic (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.traced_runs < 1:
        parser.error("--runs and --traced-runs must be at least 1")
    print(machine_info(), flush=True)
    samples = measure(args.runs, args.traced_runs)
    report(samples, args.runs, args.traced_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
