"""The emulator's command line run as a subprocess, for tests of the CLI itself."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def emulator_cli(*options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start ``python -m ...emulator --port 0 OPTIONS``; yield its URL and process; kill it if still alive."""
    command = [sys.executable, "-m", "airflow_provider_domo_workflows.emulator", "--port", "0", *options]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if readable else ""
        match = re.fullmatch(r"Domo Workflows emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        yield match.group(1), process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
