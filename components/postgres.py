"""Managed PostgreSQL for n8n: a VPC-attached cluster (HA by default), n8n's own database and user, and
optionally a PgBouncer connection pool n8n connects through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_digitalocean as do

from builders.deployment import stack_pool_size
from platform_model import catalog
from platform_model.topology import DB_NAME, DB_POOL, DB_USER
from settings.model import Settings

from .database import ClusterArgs, managed_cluster


@dataclass
class PoolArgs:
    mode: str  # a PgBouncer mode n8n works with (catalog.POOL_MODES)
    size: int  # server connections the pool may open

    @classmethod
    def from_settings(cls, s: Settings) -> Optional["PoolArgs"]:
        size = stack_pool_size(s)
        return None if size is None else cls(s.postgres.connection_pool.mode, size)


@dataclass
class PostgresArgs:
    cluster: ClusterArgs
    pool: Optional[PoolArgs] = None  # n8n connects through a PgBouncer pool when set

    @classmethod
    def from_settings(cls, s: Settings, vpc_id: pulumi.Input[str]) -> "PostgresArgs":
        return cls(ClusterArgs.from_settings(s, catalog.POSTGRES, vpc_id), PoolArgs.from_settings(s))


class Postgres(pulumi.ComponentResource):
    def __init__(self, name: str, postgres: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:postgres:Postgres", name, None, opts)
        args, pool = postgres.cluster, postgres.pool
        args.check("Postgres")
        if pool is not None and pool.mode not in catalog.POOL_MODES:
            raise ValueError(f"Postgres: pool mode {pool.mode!r} does not work with n8n; use one of "
                             f"{', '.join(catalog.POOL_MODES)}")
        self.cluster, self.alerts = managed_cluster(name, catalog.POSTGRES, args, self)
        child = pulumi.ResourceOptions(parent=self)
        # n8n connects as its own user to its own database, never as doadmin. Deleting the database
        # deletes every workflow and credential, so it is protected like the cluster.
        self.database = do.DatabaseDb(f"{name}-db", cluster_id=self.cluster.id, name=DB_NAME,
                                      opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        self.user = do.DatabaseUser(f"{name}-user", cluster_id=self.cluster.id, name=DB_USER, opts=child)
        self.pool = None
        if pool is not None:
            # Stateless: replacing it only moves n8n's connections, so it is not protected.
            self.pool = do.DatabaseConnectionPool(
                f"{name}-pool", cluster_id=self.cluster.id, name=DB_POOL, mode=pool.mode, size=pool.size,
                db_name=self.database.name, user=self.user.name, opts=child,
            )
        self.register_outputs({
            "cluster_id": self.cluster.id,
            "cluster_name": self.cluster.name,
            "database": self.database.name,
            "user": self.user.name,
            "pool": self.pool.name if self.pool else None,
        })

    def bound_by_name(self) -> list[pulumi.Resource]:
        """What the App spec names without an Output (its `db_name`, `db_user` and pool bindings)."""
        return [self.database, self.user, *([self.pool] if self.pool else [])]
