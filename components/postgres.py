"""Managed PostgreSQL for n8n: a VPC-attached cluster (HA by default), n8n's own database and user, and
optionally a PgBouncer connection pool n8n connects through."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from builders.deployment import stack_pool_size
from builders.observability_spec import LOG_DESTINATION_NAME, database_log_sink
from platform_model import catalog
from platform_model.topology import DB_NAME, DB_POOL, DB_USER
from settings.model import Settings

from .database import ClusterArgs, managed_cluster


@dataclass
class PoolArgs:
    mode: str  # a PgBouncer mode n8n works with (catalog.POOL_MODES)
    size: int  # server connections the pool may open

    @classmethod
    def from_settings(cls, s: Settings) -> PoolArgs | None:
        pool, size = s.postgres.connection_pool, stack_pool_size(s)
        return None if pool is None or size is None else cls(pool.mode, size)


@dataclass
class RestoreArgs:
    source_cluster: str  # an existing cluster's name
    time: str | None = None  # RFC 3339; None: its newest backup


@dataclass
class ReplicaArgs:
    region: str
    size: str


@dataclass
class PostgresArgs:
    cluster: ClusterArgs
    pool: PoolArgs | None = None  # n8n connects through a PgBouncer pool when set
    # DatabaseClusterStorageAutoscaleArgs(enabled, threshold_percent, increment_gib), pulumi-digitalocean 4.84.1
    storage_autoscale: dict | None = None
    restore: RestoreArgs | None = None  # create the cluster as a fork of another's backups
    replica: ReplicaArgs | None = None  # a read-only copy in another region
    log_sink: tuple[str, dict] | None = None  # (resource type, arguments): PostgreSQL's logs leave the cluster

    @classmethod
    def from_settings(cls, s: Settings, vpc_id: pulumi.Input[str]) -> PostgresArgs:
        grow = s.postgres.storage_autoscale
        autoscale = {"enabled": grow.enabled, **({"threshold_percent": grow.threshold_percent,
                                                  "increment_gib": grow.increment_gib} if grow.enabled else {})}
        restore, replica = s.postgres.restore_from, s.postgres.replica
        credential = s.log_destination_secret
        return cls(
            ClusterArgs.from_settings(s, catalog.POSTGRES, vpc_id), PoolArgs.from_settings(s), autoscale,
            RestoreArgs(restore.cluster, None if restore.time == "latest" else restore.time) if restore else None,
            ReplicaArgs(replica.region, replica.size or s.postgres.size) if replica else None,
            database_log_sink(s, pulumi.Output.secret(credential.get_secret_value()) if credential else None),
        )


class Postgres(pulumi.ComponentResource):
    def __init__(self, name: str, postgres: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:postgres:Postgres", name, None, opts)
        args, pool = postgres.cluster, postgres.pool
        args.check("Postgres")
        if pool is not None and pool.mode not in catalog.POOL_MODES:
            raise ValueError(f"Postgres: pool mode {pool.mode!r} does not work with n8n; use one of "
                             f"{', '.join(catalog.POOL_MODES)}")
        # Execution data grows with every run; autoscaled storage keeps a full disk from stopping n8n.
        grow = {"storage_autoscale": postgres.storage_autoscale} if postgres.storage_autoscale else {}
        self.cluster, self.alerts = managed_cluster(name, catalog.POSTGRES, args, self, **grow,
                                                    **_restore_args(postgres.restore))
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
        self.replica = None
        if postgres.replica is not None:
            # Its own region's default VPC: a VPC never spans datacenters. Protected like the cluster:
            # after a regional outage it is the copy the new stack is built on.
            self.replica = do.DatabaseReplica(
                f"{name}-replica", cluster_id=self.cluster.id, name=f"{args.cluster_name}-{postgres.replica.region}",
                region=postgres.replica.region, size=postgres.replica.size, tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
        self.log_sink = _log_sink(name, self.cluster, postgres.log_sink, child)
        self.register_outputs({
            "cluster_id": self.cluster.id,
            "cluster_name": self.cluster.name,
            "database": self.database.name,
            "user": self.user.name,
            "pool": self.pool.name if self.pool else None,
            "replica": self.replica.name if self.replica else None,
            "log_sink": self.log_sink.name if self.log_sink else None,
        })

    def bound_by_name(self) -> list[pulumi.Resource]:
        """What the App spec names without an Output (its `db_name`, `db_user` and pool bindings)."""
        return [self.database, self.user, *([self.pool] if self.pool else [])]


_LOG_SINKS = {catalog.RSYSLOG_SINK: do.DatabaseLogsinkRsyslog, catalog.OPENSEARCH_SINK: do.DatabaseLogsinkOpensearch}


def _log_sink(name: str, cluster: do.DatabaseCluster, sink: tuple[str, dict] | None,
              child: pulumi.ResourceOptions) -> do.DatabaseLogsinkRsyslog | do.DatabaseLogsinkOpensearch | None:
    if sink is None:
        return None
    kind, args = sink
    # The OpenSearch URL carries the password: its output stays a secret in the state as its input does.
    hidden = pulumi.ResourceOptions(additional_secret_outputs=["endpoint"] if "endpoint" in args else [])
    return _LOG_SINKS[kind](f"{name}-logs", cluster_id=cluster.id, name=LOG_DESTINATION_NAME, **args,
                            opts=pulumi.ResourceOptions.merge(child, hidden))


def _restore_args(restore: RestoreArgs | None) -> dict:
    """`backup_restore` (pulumi-digitalocean 4.84.1 DatabaseClusterBackupRestoreArgs: `database_name` is
    the source cluster's name, `backup_created_at` the moment, the newest backup when absent). DigitalOcean
    restores only into a new cluster, so restoreFrom belongs in a new stack (docs/backups.md says what a
    changed restoreFrom does to an existing, protected one)."""
    if restore is None:
        return {}
    chosen = {"database_name": restore.source_cluster}
    if restore.time is not None:
        chosen["backup_created_at"] = restore.time
    return {"backup_restore": chosen}
