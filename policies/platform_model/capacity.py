"""Capacity arithmetic, pure: what a topology needs from PostgreSQL, how many executions and Code-node
tasks it runs at once, and whether a worker's memory holds its concurrency — with the working shown.

Shared by the settings cross-checks and the program's `capacity` output (builders/capacity_report.py
applies the rules to settings), the offline tools and the policy pack (from registered resources), so all
compute the same numbers. Stdlib only: the policy pack imports it. Each rule names the
n8n or DigitalOcean fact behind it; docs/cost-and-capacity.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional
from urllib.parse import urlparse

from . import catalog
from .roles import N8N_PROCESSES, RUNNERS, recognise
from .spec_fields import env_entries, spec_value

# --- PostgreSQL connections ------------------------------------------------------------------------

# Connections kept free beyond DigitalOcean's own 3: the pre-deploy job's psql session (it connects as
# doadmin, directly, while the old deployment is still running), an operator's psql and monitoring.
# n8n's migrations need none of their own: they run on one connection of the starting process's pool.
CONNECTION_HEADROOM = 5

# App Platform deploys without downtime: a component's new instances start, open their connection pools
# and must pass their readiness health check before traffic moves; only then are the old instances
# drained (`drain_seconds`) and sent TERM with up to `grace_period_seconds` to finish. For that window
# every n8n process exists twice, each with its own pool, so the peak is twice the steady state.
DEPLOY_OVERLAP = 2


@dataclass(frozen=True)
class ConnectionBudget:
    needed: int
    limit: int
    working: str  # the arithmetic, for error messages and reports

    @property
    def fits(self) -> bool:
        return self.needed <= self.limit


def _limit_working(database_size: str) -> tuple[int, str]:
    size = catalog.DATABASE_SIZES[database_size]
    # Per node; standby nodes add no write capacity, and n8n connects to the primary only.
    return size.postgres_connection_limit, f"{database_size} allows {size.postgres_connection_limit} (25 × {size.memory_gib} GiB − 3)"


def default_pool_size(database_size: str) -> int:
    """A PgBouncer pool gets every server connection the cluster allows beyond the headroom."""
    return catalog.DATABASE_SIZES[database_size].postgres_connection_limit - CONNECTION_HEADROOM


def connection_budget(processes: Mapping[str, tuple[int, int]], database_size: str, *,
                      pool_size: Optional[int] = None) -> ConnectionBudget:
    """`processes` maps each n8n component to (DB_POSTGRESDB_POOL_SIZE, instances at maximum scale).

    Without a PgBouncer pool every n8n connection is a server connection, counted twice for the rolling
    deploy. With one (`pool_size` server connections) n8n's connections are pool clients, and only the
    pool's server connections count against the cluster."""
    limit, allows = _limit_working(database_size)
    terms = " + ".join(f"{name} {pool}×{instances}" for name, (pool, instances) in processes.items())
    per_generation = sum(pool * instances for pool, instances in processes.values())
    clients = per_generation * DEPLOY_OVERLAP
    if pool_size is None:
        needed = clients + CONNECTION_HEADROOM
        working = (f"({terms}) = {per_generation} connections × {DEPLOY_OVERLAP} while a rolling deploy runs "
                   f"old and new instances + {CONNECTION_HEADROOM} headroom = {needed}; {allows}")
    else:
        needed = pool_size + CONNECTION_HEADROOM
        working = (f"n8n opens up to ({terms}) × {DEPLOY_OVERLAP} = {clients} client connections to the "
                   f"PgBouncer pool, which opens {pool_size} server connections; {pool_size} + "
                   f"{CONNECTION_HEADROOM} headroom = {needed}; {allows}")
    return ConnectionBudget(needed, limit, working)


# --- executions and Code-node tasks ----------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionCapacity:
    pairs: int
    concurrency: int  # N8N_CONCURRENCY_PRODUCTION_LIMIT per worker
    runner_slots: int  # Code-node tasks one pair's runner pool takes at once, at its maximum scale

    @property
    def concurrent_executions(self) -> int:
        return self.pairs * self.concurrency

    @property
    def code_covered(self) -> bool:
        return self.runner_slots >= self.concurrency


def runner_warning(c: ExecutionCapacity) -> Optional[str]:
    if c.code_covered:
        return None
    return (f"each worker runs up to {c.concurrency} executions (workers.concurrency) but its runner pool "
            f"takes at most {c.runner_slots} Code-node tasks at once (runners instances × maxConcurrency): "
            f"the rest queue at the broker and fail with 'Task request timed out' after "
            f"N8N_RUNNERS_TASK_REQUEST_TIMEOUT (60 s). Raise runners.maxConcurrency or runner instances to "
            f"at least {c.concurrency}")


# --- memory ----------------------------------------------------------------------------------------

# Rule of thumb for a worker, measured with n8n 2.41.1 on Node.js 24 (queue mode, PostgreSQL through
# PgBouncer, this project's build machine): an idle worker settles at about 430-450 MiB RSS after its
# first executions; 20 concurrent executions of a 1 MiB webhook payload added about 280 MiB (≈14 MiB
# each), 10 concurrent 4 MiB payloads about 180 MiB. We plan for 32 MiB per concurrent execution, which
# covers executions carrying about 2 MiB of item data; binary data stays in the database in queue mode.
WORKER_BASELINE_MIB = 450
MIB_PER_EXECUTION = 32
# Plan to use at most this share of the instance's memory: the default memory alert fires at 85%.
MEMORY_CEILING = 0.8


def worker_memory_mib(concurrency: int) -> int:
    return WORKER_BASELINE_MIB + MIB_PER_EXECUTION * concurrency


def usable_memory_mib(size_slug: str) -> int:
    return int(catalog.APP_SIZES[size_slug].memory_gib * 1024 * MEMORY_CEILING)


def max_concurrency_for(size_slug: str) -> int:
    """The highest worker concurrency whose memory estimate fits the size."""
    return max(0, (usable_memory_mib(size_slug) - WORKER_BASELINE_MIB) // MIB_PER_EXECUTION)


def memory_warning(size_slug: str, concurrency: int) -> Optional[str]:
    need, usable = worker_memory_mib(concurrency), usable_memory_mib(size_slug)
    if need <= usable:
        return None
    return (f"a worker at concurrency {concurrency} needs about {need} MiB ({WORKER_BASELINE_MIB} MiB + "
            f"{concurrency} × {MIB_PER_EXECUTION} MiB per execution) but {size_slug} gives "
            f"{usable} MiB at {int(MEMORY_CEILING * 100)}% of its memory; use a larger workers.size or at most "
            f"{max_concurrency_for(size_slug)} (workers.concurrency)")


# --- the same rules read from an App spec (what the policy pack receives) -------------------------


def instance_range(component: Mapping[str, Any]) -> tuple[int, int]:
    auto = spec_value(component, "autoscaling")
    if auto:
        return int(spec_value(auto, "min_instance_count")), int(spec_value(auto, "max_instance_count"))
    count = int(spec_value(component, "instance_count") or 1)
    return count, count


def _components(spec: Mapping[str, Any], *roles: str) -> list[Mapping[str, Any]]:
    """The spec's services and workers that play `roles`, by what they run (policies/platform_model/roles.py)."""
    return [c for kind in ("services", "workers") for c in spec.get(kind) or []
            if recognise(kind, c).role in roles]


def _env(component: Mapping[str, Any]) -> dict[str, Any]:
    return {key: entry.get("value") for key, entry in env_entries(component).items()}


def processes_from_app_spec(spec: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """`connection_budget`'s input from an App spec: every n8n service with its pool size and maximum."""
    return {c["name"]: (int(_env(c).get("DB_POSTGRESDB_POOL_SIZE") or catalog.DEFAULT_DB_POOL_SIZE),
                        instance_range(c)[1])
            for c in _components(spec, *N8N_PROCESSES)}


def runner_warnings_from_app_spec(spec: Mapping[str, Any]) -> list[str]:
    """`runner_warning` for every worker pair in an App spec. Main, when it is a broker, runs manual
    executions, which N8N_CONCURRENCY_PRODUCTION_LIMIT does not bound: it is not checked."""
    n8n = {c["name"]: c for c in _components(spec, *N8N_PROCESSES)}
    warnings = []
    for pool in _components(spec, RUNNERS):
        env = _env(pool)
        broker = n8n.get(urlparse(str(env.get("N8N_RUNNERS_TASK_BROKER_URI", ""))).hostname or "")
        limit = _env(broker).get("N8N_CONCURRENCY_PRODUCTION_LIMIT") if broker else None
        if limit is None:
            continue
        slots = instance_range(pool)[1] * int(env.get("N8N_RUNNERS_MAX_CONCURRENCY") or
                                               catalog.DEFAULT_RUNNER_MAX_CONCURRENCY)
        warning = runner_warning(ExecutionCapacity(1, int(limit), slots))
        if warning:
            warnings.append(f"{pool['name']}: {warning}")
    return warnings


# --- everything a stack should hear about --------------------------------------------------------


