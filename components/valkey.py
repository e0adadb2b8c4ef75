"""Managed Valkey, n8n's job queue (Bull): VPC-attached, `noeviction`, HA by default."""

from __future__ import annotations

import pulumi

from platform_model import catalog

from .database import ClusterArgs, managed_cluster


class Valkey(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:valkey:Valkey", name, None, opts)
        args.check("Valkey")
        self.cluster, self.alerts = managed_cluster(
            name, catalog.VALKEY, args, self, eviction_policy=catalog.VALKEY_EVICTION_POLICY
        )
        self.register_outputs({"cluster_id": self.cluster.id, "cluster_name": self.cluster.name})
