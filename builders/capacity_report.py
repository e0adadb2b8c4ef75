"""The capacity rules of platform_model.capacity applied to a stack's settings: the `capacity` stack
output, the warnings an operator sees before a deployment, and the connection budget the settings
cross-checks enforce."""

from __future__ import annotations

from typing import Optional

from platform_model.capacity import (DEPLOY_OVERLAP, ConnectionBudget, ExecutionCapacity, connection_budget,
                                     default_pool_size, memory_warning, runner_warning, usable_memory_mib,
                                     worker_memory_mib)
from settings.model import Settings

from .names import topology_for


def _top(instances: Optional[int], auto) -> int:
    return auto.max_instances if auto is not None else (instances or 1)


def connection_processes(s: Settings) -> dict[str, tuple[int, int]]:
    """Every n8n process that connects to PostgreSQL, with its pool size and instances at maximum scale.
    Runner pools never connect: the broker passes them the data they need."""
    top = topology_for(s)
    pool = s.n8n.db_pool_size
    processes = {top.main: (pool, _top(s.main.instances, s.main.autoscaling))}
    processes.update({w: (pool, 1) for w in top.workers})
    if top.webhook:
        processes[top.webhook] = (pool, _top(s.webhooks.processors, s.webhooks.autoscaling))
    return processes


def stack_pool_size(s: Settings) -> Optional[int]:
    pool = s.postgres.connection_pool
    if pool is None:
        return None
    return pool.size or default_pool_size(s.postgres.size)


def stack_connection_budget(s: Settings) -> ConnectionBudget:
    return connection_budget(connection_processes(s), s.postgres.size, pool_size=stack_pool_size(s))


def execution_capacity(s: Settings) -> ExecutionCapacity:
    # A worker runs up to N8N_CONCURRENCY_PRODUCTION_LIMIT executions at once, and each may wait on one
    # Code-node task; its broker hands tasks only to its own runners, each taking up to
    # N8N_RUNNERS_MAX_CONCURRENCY.
    runners = _top(s.runners.instances, s.runners.autoscaling)
    return ExecutionCapacity(s.workers.pairs, s.workers.concurrency, runners * s.runners.max_concurrency)


def session_pool_warning(s: Settings) -> Optional[str]:
    pool = s.postgres.connection_pool
    if pool is None or pool.mode != "session":
        return None
    clients = sum(p * n for p, n in connection_processes(s).values()) * DEPLOY_OVERLAP
    size = stack_pool_size(s)
    if clients <= size:
        return None
    return (f"in session mode each of n8n's up to {clients} client connections holds one of the pool's {size} "
            f"server connections while open; the rest wait and n8n gives up after "
            f"DB_POSTGRESDB_CONNECTION_TIMEOUT (20 s). Transaction mode shares them per transaction")


def capacity_warnings(s: Settings) -> list[str]:
    """Problems that do not stop a deployment but that an operator should see before it runs."""
    found = [runner_warning(execution_capacity(s)), memory_warning(s.workers.size, s.workers.concurrency),
             session_pool_warning(s)]
    return [w for w in found if w]


def capacity_report(s: Settings) -> dict:
    """The `capacity` stack output and the offline report's numbers."""
    c = execution_capacity(s)
    budget = stack_connection_budget(s)
    return {
        "concurrent_executions": c.concurrent_executions,
        "worker_concurrency": c.concurrency,
        "runner_slots_per_pair": c.runner_slots,
        "postgres_connections": {"needed": budget.needed, "limit": budget.limit, "working": budget.working},
        "worker_memory_mib": {"estimate": worker_memory_mib(c.concurrency),
                              "usable": usable_memory_mib(s.workers.size)},
        "warnings": capacity_warnings(s),
    }
