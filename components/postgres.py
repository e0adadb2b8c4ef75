"""Managed PostgreSQL for n8n: a VPC-attached cluster (HA by default), n8n's own database and user."""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as do

from .database import ClusterArgs, managed_cluster
from .topology import DB_NAME, DB_USER


class Postgres(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:postgres:Postgres", name, None, opts)
        args.check("Postgres")
        self.cluster, self.alerts = managed_cluster(name, "pg", args, self)
        child = pulumi.ResourceOptions(parent=self)
        # n8n connects as its own user to its own database, never as doadmin. Deleting the database
        # deletes every workflow and credential, so it is protected like the cluster.
        self.database = do.DatabaseDb(f"{name}-db", cluster_id=self.cluster.id, name=DB_NAME,
                                      opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        self.user = do.DatabaseUser(f"{name}-user", cluster_id=self.cluster.id, name=DB_USER, opts=child)
        self.register_outputs({
            "cluster_id": self.cluster.id,
            "cluster_name": self.cluster.name,
            "database": self.database.name,
            "user": self.user.name,
        })
