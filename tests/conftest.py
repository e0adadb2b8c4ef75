"""Session fixtures: the shipped stacks, each run once under mocks."""

import pytest

from offline.engine import ProgramRun
from stackrun import run_stack


@pytest.fixture(scope="session")
def prod() -> ProgramRun:
    return run_stack("prod")


@pytest.fixture(scope="session")
def staging() -> ProgramRun:
    return run_stack("staging")
