"""Session fixtures: the shipped stacks, each run once under mocks, the policy pack, started once, and its
policies called in-process with the pack's defaults."""

import contextlib
import gc

import pytest

from offline import analyzer
from offline.analyzer import PolicyPack, reconcile
from offline.engine import ProgramRun
from pack_in_process import PackInProcess
from stackrun import run_stack


def pytest_configure(config):
    # The recorded runs and the in-process pack's caches keep large trees of dicts alive for the session;
    # with Python's default first threshold (700 allocations) the collector walks them over and over. A
    # larger one cut their CPU time by 6–8 % (measured A/B on test_policies, test_gate and
    # test_stack_file: 700 vs 5,000, 10,000 and 50,000; 10,000 was fastest).
    gc.set_threshold(10_000, 10, 10)


@pytest.fixture(scope="session")
def prod() -> ProgramRun:
    return run_stack("prod")


@pytest.fixture(scope="session")
def staging() -> ProgramRun:
    return run_stack("staging")


@pytest.fixture(scope="session")
def pack():
    """The policy pack, started once for the session the way the Pulumi CLI starts it, configured with
    its own defaults (tests that configure it otherwise restore this)."""
    with PolicyPack() as running:
        running.configure(reconcile(running.info(), {}))
        yield running


@pytest.fixture(scope="session")
def policies() -> PackInProcess:
    """The pack's policies called in this process with its defaults (build a PackInProcess of your own to
    configure them)."""
    return PackInProcess()


@pytest.fixture
def gate_on_the_session_pack(pack, monkeypatch):
    """`gate.main` checks the stack with the session's pack instead of starting a pack process of its own
    (the gate's own start is tested through `python -m offline.gate` in test_gate.py and
    test_workflows.py); the pack's defaults are restored after the test."""
    monkeypatch.setattr(analyzer, "PolicyPack", lambda: contextlib.nullcontext(pack))
    yield
    pack.configure(reconcile(pack.info(), {}))
