"""Run the Domo Workflows emulator with ``python -m airflow_provider_domo_workflows.emulator``."""

from __future__ import annotations

import sys

from airflow_provider_domo_workflows.emulator.server import main

if __name__ == "__main__":
    sys.exit(main())
