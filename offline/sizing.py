"""Propose a stack for a load: worker pairs, sizes and database sizes, with what it costs.

Pure (no Pulumi runtime): every candidate goes through the settings validation and the capacity rules of
policies/platform_model/capacity.py, and the cheapest one at maximum scale that passes and covers the
target wins.
The rules, each with its basis:

- Concurrent executions (Little's law): arrivals per second × average execution seconds, doubled
  (PEAK_FACTOR) because an average rate hides bursts; the queue absorbs bursts, but only by waiting.
- A worker is one Node.js process and runs its executions on one core: dedicated 1-vCPU sizes, and at
  most WORKER_EXECUTIONS_PER_SECOND per worker (half the ~10-12 trivial executions per second measured
  end to end on this project's 2-core build machine with n8n 2.41.1).
- Worker concurrency in n8n's recommended range (at least 5) and within the worker's memory rule of
  thumb (capacity.worker_memory_mib); at least MIN_PAIRS pairs so one worker's restart does not stop
  all executions.
- Runners: each pair's pool takes as many Code-node tasks as its worker runs executions
  (runners.maxConcurrency = workers.concurrency), one instance. Shared CPU while the pair's Code-node
  rate stays under SHARED_RUNNER_CODE_TASKS_PER_SECOND, dedicated above; the smallest fixed size when no
  execution runs Code nodes (the pool must exist, it sits idle).
- Webhook intake: main takes up to INTAKE_PER_SECOND webhook requests per second; above that, webhook
  processors, each taking as many.
- PostgreSQL and Valkey: primary + standby (HA) on the smallest plan that allows standbys and, for
  PostgreSQL, whose connection limit holds every process at maximum scale through a rolling deploy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from builders.deployment import deployment_from_settings, stack_cost
from platform_model import capacity, catalog
from platform_model.pricing import MonthlyCost
from settings.model import NAMESPACE, Settings, SettingsError, parse_settings
from stack.loader import load_settings, merged, stack_source

PEAK_FACTOR = 2
WORKER_EXECUTIONS_PER_SECOND = 5
INTAKE_PER_SECOND = 10
SHARED_RUNNER_CODE_TASKS_PER_SECOND = 1
MIN_PAIRS = 2
MAX_PAIRS = 20  # workers.pairs' upper bound
CONCURRENCY_CHOICES = (5, 10, 15, 20, 25, 30, 40, 50)
WORKER_SIZES = tuple(s.slug for s in catalog.APP_SIZES.values() if s.dedicated and s.vcpus == 1 and s.memory_gib >= 1)
MAIN_SIZE = "apps-d-1vcpu-2gb"
WEBHOOK_SIZE = "apps-d-1vcpu-1gb"
IDLE_RUNNER_SIZE = "apps-s-1vcpu-0.5gb"
SHARED_RUNNER_SIZE = "apps-s-1vcpu-1gb"
DEDICATED_RUNNER_SIZE = "apps-d-1vcpu-1gb"
HA_NODES = 2


class SizingError(ValueError):
    pass


@dataclass(frozen=True)
class Workload:
    per_minute: float  # production executions started per minute, on average
    seconds: float  # average execution time, queue wait excluded
    code_share: float  # share of executions that run at least one Code node, 0..1

    def __post_init__(self):
        if not all(math.isfinite(x) for x in (self.per_minute, self.seconds, self.code_share)):
            raise SizingError(f"the load must be finite numbers (got {self.per_minute:g}/min, {self.seconds:g} s, "
                              f"Code-node share {self.code_share:g})")
        if not self.per_minute > 0:
            raise SizingError(f"executions per minute must be more than 0 (got {self.per_minute})")
        if not self.seconds > 0:
            raise SizingError(f"average execution seconds must be more than 0 (got {self.seconds})")
        if not 0 <= self.code_share <= 1:
            raise SizingError(f"the Code-node share must be between 0 and 1 (got {self.code_share})")

    @property
    def per_second(self) -> float:
        return self.per_minute / 60

    @property
    def concurrent_executions(self) -> float:
        return self.per_second * self.seconds

    @property
    def slots_needed(self) -> int:
        return max(1, math.ceil(self.concurrent_executions * PEAK_FACTOR - 1e-9))


@dataclass(frozen=True)
class Proposal:
    target: Workload
    config: dict[str, Any]  # n8n-platform settings to put in Pulumi.<stack>.yaml
    settings: Settings
    cost: MonthlyCost
    reasons: tuple[str, ...] = field(default=())

    @property
    def concurrent_executions(self) -> int:
        return capacity.execution_capacity(deployment_from_settings(self.settings)).concurrent_executions


def _runner_size(code_tasks_per_second: float, code_share: float) -> str:
    if code_share == 0:
        return IDLE_RUNNER_SIZE
    if code_tasks_per_second <= SHARED_RUNNER_CODE_TASKS_PER_SECOND:
        return SHARED_RUNNER_SIZE
    return DEDICATED_RUNNER_SIZE


def _smallest_ha_postgres(s: Settings) -> str | None:
    """The smallest plan with standby nodes whose connections hold every n8n process of `s` at maximum
    scale through a rolling deploy, counted without a PgBouncer pool."""
    processes = capacity.processes(deployment_from_settings(s))
    for slug, size in catalog.DATABASE_SIZES.items():
        if size.allows_standby and capacity.connection_budget(processes, slug).fits:
            return slug
    return None


def candidate_config(t: Workload, worker_size: str, concurrency: int, base: Mapping[str, Any] | None = None,
                     stack: str = "prod") -> dict | None:
    """The settings for one choice of worker size and concurrency on top of `base` (a stack's config), or
    None when it cannot carry `t`. Raises SettingsError when `base` rejects a value of it."""
    if capacity.memory_warning(worker_size, concurrency):
        return None
    pairs = max(MIN_PAIRS, math.ceil(t.slots_needed / concurrency),
                math.ceil(t.per_second / WORKER_EXECUTIONS_PER_SECOND - 1e-9))
    if pairs > MAX_PAIRS:
        return None
    processors = math.ceil(t.per_second / INTAKE_PER_SECOND - 1e-9) if t.per_second > INTAKE_PER_SECOND else 0
    smallest_ha = next(s for s, z in catalog.DATABASE_SIZES.items() if z.allows_standby)
    config: dict[str, Any] = {
        "main": {"size": MAIN_SIZE},
        "workers": {"pairs": pairs, "size": worker_size, "concurrency": concurrency},
        "runners": {"size": _runner_size(t.per_second / pairs * t.code_share, t.code_share), "instances": 1,
                    "maxConcurrency": concurrency},
        "postgres": {"size": smallest_ha, "nodes": HA_NODES},
        "valkey": {"size": smallest_ha, "nodes": HA_NODES},
    }
    if processors:
        config["webhooks"] = {"processors": processors, "size": WEBHOOK_SIZE}
    # PostgreSQL is sized for the stack's own processes: what the settings make of the draft.
    draft, _ = parse_settings(_on(base or {}, config), stack, stack_source(stack))
    config["postgres"]["size"] = _smallest_ha_postgres(draft)
    return config if config["postgres"]["size"] else None


def _on(base: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` (setting -> value) laid over a stack's config (`n8n-platform:key` -> value)."""
    whole = dict(base)
    for key, value in config.items():
        whole[f"{NAMESPACE}:{key}"] = merged(base.get(f"{NAMESPACE}:{key}") or {}, value)
    return whole


def propose(t: Workload, base: Mapping[str, Any] | None = None, stack: str = "prod") -> Proposal:
    """The cheapest stack (at maximum scale) that carries `t`. `base` is a stack's config
    (`n8n-platform:key` -> value) whose other settings — region, price overrides, alerts — are kept."""
    base = dict(base or {})
    load_settings(base, stack)  # an invalid base stack is reported as such, before any candidate
    best: Proposal | None = None
    rejected: SettingsError | None = None
    for worker_size in WORKER_SIZES:
        for concurrency in CONCURRENCY_CHOICES:
            try:
                config = candidate_config(t, worker_size, concurrency, base, stack)
                if config is None:
                    continue
                settings = load_settings(_on(base, config), stack)
            except SettingsError as err:
                rejected = err  # never propose what the settings validation rejects
                continue
            if capacity.capacity_warnings(deployment_from_settings(settings)):
                continue
            cost = stack_cost(settings)
            candidate = Proposal(t, config, settings, cost)
            if best is None or ((cost.maximum, -settings.workers.pairs)
                                < (best.cost.maximum, -best.settings.workers.pairs)):
                best = candidate
    if best is None and rejected is not None:
        raise SizingError(f"the base stack's settings reject every candidate that carries the load:\n{rejected}")
    if best is None:
        raise SizingError(
            f"{t.per_minute:g} executions per minute of {t.seconds:g} s need {t.slots_needed} execution slots, "
            f"more than {MAX_PAIRS} worker pairs carry; split the load over several stacks"
        )
    return _explained(best)


def _explained(p: Proposal) -> Proposal:
    t, s = p.target, p.settings
    d = deployment_from_settings(s)
    c = capacity.execution_capacity(d)
    budget = capacity.deployment_connection_budget(d)
    reasons = [
        f"{t.per_minute:g}/min × {t.seconds:g} s = {t.concurrent_executions:.1f} executions in flight on "
        f"average; × {PEAK_FACTOR} for bursts = {t.slots_needed} slots",
        f"{c.pairs} worker pairs × concurrency {c.concurrency} = {c.concurrent_executions} slots "
        f"(at least {MIN_PAIRS} pairs; each worker takes at most {WORKER_EXECUTIONS_PER_SECOND} executions/s)",
        f"worker memory ~{capacity.worker_memory_mib(c.concurrency)} MiB of "
        f"{capacity.usable_memory_mib(s.workers.size)} MiB usable on {s.workers.size}",
        f"runners: {c.runner_slots} Code-node tasks at once per pair on {s.runners.size} "
        f"({t.per_second / c.pairs * t.code_share:.2f} Code-node executions/s per pair)",
        f"PostgreSQL {s.postgres.size}: {budget.working}",
    ]
    if s.webhooks.processors:
        reasons.append(f"{t.per_second:.1f} webhook requests/s > {INTAKE_PER_SECOND}/s for main: "
                       f"{s.webhooks.processors} webhook processors")
    return Proposal(p.target, p.config, p.settings, p.cost, tuple(reasons))
