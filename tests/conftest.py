"""Shared fixtures: a running Plane emulator (plane_sync.emulator) on loopback.

- ``emulator``: a started ``Emulator(rate_limit=None)`` with default data (workspace "acme",
  project "PROJ", 3 work items), stopped after the test.
- ``emulator_factory(**kwargs)``: start an ``Emulator`` with any constructor arguments;
  every one it made is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from plane_sync.emulator import Emulator

EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    started: list[Emulator] = []

    def make(**kwargs: Any) -> Emulator:
        emu = Emulator(**kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> Emulator:
    return emulator_factory(rate_limit=None)
