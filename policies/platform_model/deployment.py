"""One deployment, whatever it was read from: the App Platform services and workers with their sizes,
instance ranges and what each runs, the pre-deploy jobs, the database clusters, and the PostgreSQL n8n
connects to. The cost rules (pricing.py) and the capacity rules (capacity.py) read only this.

Exactly two adapters build it: from a stack's settings (builders/deployment.py) and from an App spec as
the policy pack sees it (`from_app_spec` here, values unknown at preview included: a number that is not
known is None, and each rule's caller decides what that means). Stdlib only: the policy pack imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import catalog, roles
from .spec_fields import number
from .spec_reader import AppSpec, Component, broker_address

POOL_SIZE = "DB_POSTGRESDB_POOL_SIZE"
CONCURRENCY = "N8N_CONCURRENCY_PRODUCTION_LIMIT"
RUNNER_MAX_CONCURRENCY = "N8N_RUNNERS_MAX_CONCURRENCY"
BROKER_URI = "N8N_RUNNERS_TASK_BROKER_URI"


@dataclass(frozen=True)
class AppComponent:
    """An App Platform service or worker: `size` × `min_instances`..`max_instances`, and what the capacity
    rules read of the n8n settings it runs with (None where they do not apply)."""

    name: str
    size: Any  # an instance size slug; None when the spec names none
    min_instances: int | None
    max_instances: int | None
    role: str = roles.UNRECOGNISED  # platform_model/roles.py
    db_pool_size: int | None = None  # n8n processes: DB_POSTGRESDB_POOL_SIZE
    concurrency: int | None = None  # N8N_CONCURRENCY_PRODUCTION_LIMIT, where set (workers)
    broker: str | None = None  # runner pools: the service whose task broker they serve
    runner_max_concurrency: int | None = None  # runner pools: N8N_RUNNERS_MAX_CONCURRENCY


@dataclass(frozen=True)
class Job:
    name: str
    size: Any


@dataclass(frozen=True)
class Cluster:
    name: str
    engine: catalog.Engine
    size: str
    nodes: int  # primary + standby nodes; each node is billed


@dataclass(frozen=True)
class ConnectionPool:
    """The PgBouncer pool n8n connects through: `size` server connections."""

    size: int
    mode: str | None = None


@dataclass(frozen=True)
class Deployment:
    components: tuple[AppComponent, ...]
    jobs: tuple[Job, ...]
    clusters: tuple[Cluster, ...]
    vpc: bool = True  # a VPC network of its own
    postgres: str | None = None  # size slug of the PostgreSQL cluster n8n connects to
    connection_pool: ConnectionPool | None = None
    spaces: bool = False  # a Spaces bucket (the off-cluster backups'), billed as one subscription

    def playing(self, *wanted: str) -> list[AppComponent]:
        return [c for c in self.components if c.role in wanted]


REPLICA_CLUSTER = "postgres replica"


def replica_cluster(size: Any) -> Cluster:
    """A read-only PostgreSQL replica: billed as one node of its size (DigitalOcean prices replicas like nodes).
    `size` as read; the policy pack reports a size with no price ("no price for")."""
    return Cluster(REPLICA_CLUSTER, catalog.POSTGRES, size, 1)


# --- from an App spec ------------------------------------------------------------------------------


def count(value: Any) -> int | None:
    """A known whole number: the wire's float, the API's int or an env var's digits; else None."""
    if isinstance(value, str):
        return int(value) if value.isdigit() else None
    known = number(value)
    return None if known is None else int(known)


def _setting(component: Component, key: str, default: int | None = None) -> int | None:
    """An env var read as a number: `default` when unset, None when unknown or not a number."""
    value = component.value(key)
    return default if value is None else count(value)


def _component(c: Component) -> AppComponent:
    n8n, pool = c.is_n8n, c.is_runner_pool
    return AppComponent(
        c.name, c.size, count(c.min_instances), count(c.max_instances), c.role,
        db_pool_size=_setting(c, POOL_SIZE, catalog.DEFAULT_DB_POOL_SIZE) if n8n else None,
        concurrency=_setting(c, CONCURRENCY) if n8n else None,
        broker=broker_address(c.value(BROKER_URI))[0] if pool else None,
        runner_max_concurrency=_setting(c, RUNNER_MAX_CONCURRENCY, catalog.DEFAULT_RUNNER_MAX_CONCURRENCY)
        if pool else None,
    )


def from_app_spec(spec: Mapping[str, Any], clusters: Iterable[Cluster] = (), vpc: bool = True,
                  postgres: str | None = None, connection_pool: ConnectionPool | None = None,
                  spaces: bool = False) -> Deployment:
    """The App spec's services, workers and jobs (API or engine shape, as the policy pack receives it),
    plus what the spec does not tell: the clusters it attaches, whether the stack has a VPC (the clusters
    sit in it whether or not the app joins), the PostgreSQL size n8n connects to and its pool, and whether
    the stack keeps a Spaces bucket (the backups')."""
    components = list(AppSpec(dict(spec)).components())
    return Deployment(
        components=tuple(_component(c) for c in components if c.kind != "jobs"),
        jobs=tuple(Job(c.name, c.size) for c in components if c.kind == "jobs"),
        clusters=tuple(clusters), vpc=vpc, postgres=postgres, connection_pool=connection_pool, spaces=spaces,
    )
