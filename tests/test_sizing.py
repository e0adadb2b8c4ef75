"""The size helper: its proposals carry the target, pass the settings validation and every capacity rule,
and cost what the cost model says."""

import math

import pytest
import yaml

from builders.deployment import deployment_from_settings, stack_cost
from offline import sizing
from offline.size import main as size_main
from offline.sizing import SizingError, Workload, propose
from platform_model import capacity
from stack.loader import load_settings
from stackrun import stack_config

TARGETS = [
    Workload(600, 2, 0.5),    # docs/cost-and-capacity.md's example
    Workload(10, 1, 0),       # a quiet instance without Code nodes
    Workload(60, 30, 1),      # long executions, all with Code nodes
    Workload(3000, 1, 0.2),   # 50 webhooks a second: webhook processors
    Workload(120, 120, 0.1),  # slow API calls: many executions in flight
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.per_minute:g}/min×{t.seconds:g}s×{t.code_share:g}")
def test_proposals_carry_the_target_and_pass_every_rule(target):
    p = propose(target)
    # What a user pastes into Pulumi.<stack>.yaml loads without a problem...
    s = load_settings({f"n8n-platform:{k}": v for k, v in p.config.items()}, "prod")
    # ...raises no capacity warning (runner coverage, memory, pool queueing)...
    assert capacity.capacity_warnings(deployment_from_settings(s)) == []
    # ...fits PostgreSQL at maximum scale through a rolling deploy...
    assert capacity.deployment_connection_budget(deployment_from_settings(s)).fits
    # ...runs the executions in flight, with burst headroom, on workers that stay under their CPU ceiling.
    c = capacity.execution_capacity(deployment_from_settings(s))
    assert c.concurrent_executions >= target.per_second * target.seconds * sizing.PEAK_FACTOR
    assert c.pairs * sizing.WORKER_EXECUTIONS_PER_SECOND >= target.per_second
    assert c.pairs >= sizing.MIN_PAIRS and c.code_covered
    assert c.concurrency >= 5, "n8n discourages worker concurrency below 5"
    # Highly available databases, and the cost the model computes for exactly these settings.
    assert s.postgres.nodes >= 2 and s.valkey.nodes >= 2
    assert p.cost.maximum == stack_cost(s).maximum
    assert p.reasons and p.concurrent_executions == c.concurrent_executions


def test_webhook_intake_beyond_main_adds_processors():
    assert propose(Workload(3000, 1, 0)).settings.webhooks.processors == math.ceil(50 / sizing.INTAKE_PER_SECOND)
    assert propose(Workload(600, 1, 0)).settings.webhooks.processors == 0


def test_runner_size_follows_the_code_node_rate():
    assert propose(Workload(60, 1, 0)).settings.runners.size == sizing.IDLE_RUNNER_SIZE
    assert propose(Workload(60, 1, 0.5)).settings.runners.size == sizing.SHARED_RUNNER_SIZE
    assert propose(Workload(1200, 1, 1)).settings.runners.size == sizing.DEDICATED_RUNNER_SIZE


def test_no_cheaper_candidate_is_skipped():
    # Every (size, concurrency) the helper considers, priced: the proposal is the cheapest valid one.
    t = Workload(600, 2, 0.5)
    chosen = propose(t)
    for size in sizing.WORKER_SIZES:
        for conc in sizing.CONCURRENCY_CHOICES:
            config = sizing.candidate_config(t, size, conc)
            if config:
                s = load_settings({f"n8n-platform:{k}": v for k, v in config.items()}, "prod")
                assert stack_cost(s).maximum >= chosen.cost.maximum, (size, conc)


def test_a_base_stack_keeps_its_other_settings():
    p = propose(Workload(60, 2, 0.1), stack_config("staging"), "staging")
    assert p.settings.protect is False and p.settings.n8n.timezone == "Europe/Amsterdam"
    priced = propose(Workload(60, 2, 0.1), stack_config("prod", {"cost": {"prices": {"app": {"apps-d-1vcpu-2gb": 1}}}}))
    assert priced.settings.workers.size == "apps-d-1vcpu-2gb", "a stack's own prices steer the choice"


def test_impossible_targets_are_refused_with_the_numbers():
    with pytest.raises(SizingError) as err:
        propose(Workload(1200, 60, 0.5))
    assert "need 2400 execution slots, more than 20 worker pairs carry" in str(err.value)
    for bad in ((0, 1, 0), (10, -1, 0), (10, 1, 1.5)):
        with pytest.raises(SizingError):
            Workload(*bad)


def test_size_command_prints_settings_yaml_and_the_reasons(capsys):
    assert size_main(["--per-minute", "600", "--seconds", "2", "--code-share", "0.5"]) == 0
    out, err = capsys.readouterr()
    config = yaml.safe_load(out)["config"]
    s = load_settings(config, "prod")
    assert s.workers.pairs * s.workers.concurrency >= 40
    assert "600/min × 2 s = 20.0 executions in flight" in err and "total" in err
    with pytest.raises(SystemExit) as usage:  # argparse's usage error: exit 2, the argument named
        size_main(["--per-minute", "600", "--seconds", "2", "--code-share", "2"])
    assert usage.value.code == 2
    assert "--code-share: must be a finite number from 0 to 1 (got '2')" in capsys.readouterr().err
