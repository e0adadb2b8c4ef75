"""Capacity arithmetic, pure: what a topology needs from PostgreSQL, how many executions and Code-node
tasks it runs at once, and whether a worker's memory holds its concurrency — with the working shown.

The rules read a `Deployment` (platform_model/deployment.py), built from a stack's settings for the
settings cross-checks, the program's `capacity` output and the offline tools, and from an App spec for the
policy pack, so all compute the same numbers. Stdlib only: the policy pack imports it. Each rule names the
n8n or DigitalOcean fact behind it; docs/cost-and-capacity.md lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import catalog
from .deployment import AppComponent, Deployment
from .roles import N8N_PROCESSES, RUNNERS, WORKER

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
    return (size.postgres_connection_limit,
            f"{database_size} allows {size.postgres_connection_limit} (25 × {size.memory_gib} GiB − 3)")


def default_pool_size(database_size: str) -> int:
    """A PgBouncer pool gets every server connection the cluster allows beyond the headroom."""
    return catalog.DATABASE_SIZES[database_size].postgres_connection_limit - CONNECTION_HEADROOM


def connection_budget(processes: Mapping[str, tuple[int, int]], database_size: str, *,
                      pool_size: int | None = None) -> ConnectionBudget:
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


def runner_warning(c: ExecutionCapacity) -> str | None:
    if c.code_covered:
        return None
    return (f"each worker runs up to {c.concurrency} executions (workers.concurrency) but its runner pool "
            f"takes at most {c.runner_slots} Code-node tasks at once (runners instances × maxConcurrency): "
            f"the rest queue at the broker and fail with 'Task request timed out' after "
            f"N8N_RUNNERS_TASK_REQUEST_TIMEOUT ({catalog.TASK_REQUEST_TIMEOUT_SECONDS} s). Raise runners.maxConcurrency"
            f" or runner instances to at least {c.concurrency}")


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


def memory_warning(size_slug: str, concurrency: int) -> str | None:
    need, usable = worker_memory_mib(concurrency), usable_memory_mib(size_slug)
    if need <= usable:
        return None
    return (f"a worker at concurrency {concurrency} needs about {need} MiB ({WORKER_BASELINE_MIB} MiB + "
            f"{concurrency} × {MIB_PER_EXECUTION} MiB per execution) but {size_slug} gives "
            f"{usable} MiB at {int(MEMORY_CEILING * 100)}% of its memory; use a larger workers.size or at most "
            f"{max_concurrency_for(size_slug)} (workers.concurrency)")


# --- the rules over a deployment ------------------------------------------------------------------


def processes(d: Deployment) -> dict[str, tuple[int, int]]:
    """`connection_budget`'s input: every n8n process with its pool size and instances at maximum scale.
    Runner pools never connect: the broker passes them the data they need. (From an App spec a count
    unknown at preview is None, and so is a missing database size below: the deployment type keeps what
    the spec says; mypy sees the gap, the rules take the values as the adapters give them.)"""
    return {c.name: (c.db_pool_size, c.max_instances)  # type: ignore[misc]
            for c in d.playing(*N8N_PROCESSES)}


def deployment_connection_budget(d: Deployment) -> ConnectionBudget:
    pool = d.connection_pool
    return connection_budget(processes(d), d.postgres,  # type: ignore[arg-type]
                             pool_size=pool.size if pool else None)


def _pool_capacity(d: Deployment, pool: AppComponent) -> ExecutionCapacity | None:
    """A runner pool against its broker's N8N_CONCURRENCY_PRODUCTION_LIMIT; None when the broker sets
    none: main, when it is a broker, runs manual executions, which that limit does not bound."""
    broker = next((c for c in d.playing(*N8N_PROCESSES) if c.name == pool.broker), None)
    if (broker is None or broker.concurrency is None or pool.max_instances is None
            or pool.runner_max_concurrency is None):
        return None
    return ExecutionCapacity(1, broker.concurrency, pool.max_instances * pool.runner_max_concurrency)


def runner_warnings(d: Deployment) -> list[str]:
    """`runner_warning` for every runner pool, named."""
    found = ((pool.name, _pool_capacity(d, pool)) for pool in d.playing(RUNNERS))
    return [f"{name}: {runner_warning(c)}" for name, c in found if c is not None and runner_warning(c)]


def execution_capacity(d: Deployment) -> ExecutionCapacity:
    """The worker pairs at once: a worker runs up to N8N_CONCURRENCY_PRODUCTION_LIMIT executions, each may
    wait on one Code-node task, and its broker hands tasks only to its own runners. A stack's pairs are
    alike; the tightest pair speaks for them."""
    pairs = [c for c in (_pool_capacity(d, pool) for pool in d.playing(RUNNERS)) if c is not None]
    tightest = min(pairs, key=lambda c: c.runner_slots - c.concurrency)
    return ExecutionCapacity(len(d.playing(WORKER)), tightest.concurrency, tightest.runner_slots)


def _worker(d: Deployment) -> AppComponent:
    return d.playing(WORKER)[0]


def session_pool_warning(d: Deployment) -> str | None:
    pool = d.connection_pool
    if pool is None or pool.mode != "session":
        return None
    clients = sum(p * n for p, n in processes(d).values()) * DEPLOY_OVERLAP
    if clients <= pool.size:
        return None
    return (f"in session mode each of n8n's up to {clients} client connections holds one of the pool's "
            f"{pool.size} server connections while open; the rest wait and n8n gives up after "
            f"DB_POSTGRESDB_CONNECTION_TIMEOUT (20 s). Transaction mode shares them per transaction")


def capacity_warnings(d: Deployment) -> list[str]:
    """Problems that do not stop a deployment but that an operator should see before it runs."""
    worker = _worker(d)
    found = [runner_warning(execution_capacity(d)),
             memory_warning(worker.size, worker.concurrency),  # type: ignore[arg-type]
             session_pool_warning(d)]
    return [w for w in found if w]


def report_from_output(out: Mapping) -> dict:
    """`capacity_report`'s dict back from the `capacity` stack output as the engine holds it (every number a
    float, the keys unordered): the counts whole again, the keys in the report's order."""
    pg, memory = out["postgres_connections"], out["worker_memory_mib"]
    return {
        "concurrent_executions": int(out["concurrent_executions"]),
        "worker_concurrency": int(out["worker_concurrency"]),
        "runner_slots_per_pair": int(out["runner_slots_per_pair"]),
        "postgres_connections": {"needed": int(pg["needed"]), "limit": int(pg["limit"]), "working": pg["working"]},
        "worker_memory_mib": {"estimate": int(memory["estimate"]), "usable": int(memory["usable"])},
        "warnings": list(out["warnings"]),
    }


def capacity_report(d: Deployment) -> dict:
    """The `capacity` stack output and the offline reports' numbers."""
    c = execution_capacity(d)
    budget = deployment_connection_budget(d)
    return {
        "concurrent_executions": c.concurrent_executions,
        "worker_concurrency": c.concurrency,
        "runner_slots_per_pair": c.runner_slots,
        "postgres_connections": {"needed": budget.needed, "limit": budget.limit, "working": budget.working},
        "worker_memory_mib": {"estimate": worker_memory_mib(c.concurrency),
                              "usable": usable_memory_mib(_worker(d).size)},
        "warnings": capacity_warnings(d),
    }
