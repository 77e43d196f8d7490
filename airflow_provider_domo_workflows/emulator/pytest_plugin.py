"""Pytest plugin giving tests a running Domo Workflows emulator through the ``domo_emulator`` fixture.

It is loaded by every pytest run where the provider is installed, so it imports nothing heavy until a test
asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_domo_workflows.emulator.server import EmulatorServer


@pytest.fixture
def domo_emulator() -> Iterator[EmulatorServer]:
    """Yield an emulator serving the default workflows on a free local port, and stop it afterwards.

    Point a client at ``domo_emulator.url`` with ``domo_emulator.token``; change behaviour through
    ``domo_emulator.state`` (its clock, workflows, order, listing delay) or the ``/_emulator`` routes.
    """
    from airflow_provider_domo_workflows.emulator.server import EmulatorServer

    with EmulatorServer() as server:
        yield server
