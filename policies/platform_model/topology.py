"""Which n8n processes and runner pools a stack runs, and what each is called.

The rule this module exists for (README.md, "Why worker pairs"): a task broker hands Code-node tasks
only to runners connected to *that* process, and `http://<service>:5679` is one address for every
instance of a service. So each broker is a service with exactly one instance, and each runner pool
points at exactly one broker: the worker pair. Main is a broker only when manual executions are not
offloaded to workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import catalog

MAIN = "n8n-main"
WEBHOOK = "n8n-webhook"
DB_SETUP_JOB = "n8n-db-grants"
COLLECTOR = "n8n-metrics-collector"  # the App Platform worker that scrapes n8n's metrics and ships them
# Names of the App spec `databases` entries; bindable variables read `${postgres.HOSTNAME}` etc.
POSTGRES_BINDING = "postgres"
VALKEY_BINDING = "valkey"
# The dedicated database and user n8n connects as (never doadmin).
DB_NAME = "n8n"
DB_USER = "n8n"
# The PgBouncer connection pool in front of that database, when a stack asks for one; clients name the
# pool as their database.
DB_POOL = "n8n-pool"
# Resource-name suffix of the generated N8N_ENCRYPTION_KEY; the policy pack finds the key by it to
# check that it is protected.
ENCRYPTION_KEY_RESOURCE_SUFFIX = "encryption-key"


def worker(i: int) -> str:
    return f"n8n-worker-{i}"


def runner_pool_for(broker: str) -> str:
    suffix = "main" if broker == MAIN else broker.rsplit("-", 1)[-1]
    return f"n8n-runners-{suffix}"


def broker_uri(broker: str) -> str:
    return f"http://{broker}:{catalog.BROKER_PORT}"


@dataclass(frozen=True)
class RunnerPool:
    name: str
    broker: str  # the single-instance n8n service this pool serves

    @property
    def broker_uri(self) -> str:
        return broker_uri(self.broker)


@dataclass(frozen=True)
class Topology:
    main: str
    workers: tuple[str, ...]
    webhook: str | None
    runner_pools: tuple[RunnerPool, ...]

    @property
    def brokers(self) -> tuple[str, ...]:
        return tuple(p.broker for p in self.runner_pools)

    @property
    def n8n_processes(self) -> tuple[str, ...]:
        return (self.main, *self.workers, *((self.webhook,) if self.webhook else ()))


def plan(pairs: int, offload_manual_executions: bool, webhook: bool) -> Topology:
    """`webhook`: whether the stack runs webhook processors (a fixed count or autoscaled)."""
    workers = tuple(worker(i) for i in range(1, pairs + 1))
    brokers = workers if offload_manual_executions else (MAIN, *workers)
    return Topology(
        main=MAIN,
        workers=workers,
        webhook=WEBHOOK if webhook else None,
        runner_pools=tuple(RunnerPool(runner_pool_for(b), b) for b in brokers),
    )
