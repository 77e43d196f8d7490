"""What every benchmark prints first: the machine its figures were measured on."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from pathlib import Path


def machine_info() -> str:
    """One line on the machine: CPUs usable, CPU model, Python version."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"nproc {cpus}, CPU {model}, Python {platform.python_version()} ({sys.executable})"
