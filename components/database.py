"""What PostgreSQL and Valkey clusters share: their arguments, tags, guard and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_digitalocean as do

from builders.app_spec import alert_destinations
from builders.names import cluster_name, resource_tags
from platform_model import catalog
from settings.model import AlertSettings, PostgresSettings, Settings, ValkeySettings

# DigitalOcean Monitoring alert types for managed databases and the setting each threshold comes from.
DATABASE_ALERTS = (
    ("cpu", "v1/dbaas/alerts/cpu_alerts", "cpu_percent"),
    ("memory", "v1/dbaas/alerts/memory_utilization_alerts", "memory_percent"),
    # A full disk stops PostgreSQL and with it every n8n process; warn well before.
    ("disk", "v1/dbaas/alerts/disk_utilization_alerts", None),
)
DISK_ALERT_PERCENT = 80


@dataclass
class ClusterArgs:
    cluster_name: str
    region: str
    version: str
    size: str
    node_count: int
    vpc_id: pulumi.Input[str]
    maintenance_day: str
    maintenance_hour: str
    tags: list[str]
    alerts: AlertSettings
    protect: bool = True

    @classmethod
    def from_settings(cls, s: Settings, engine: catalog.Engine, vpc_id: pulumi.Input[str]) -> ClusterArgs:
        db: PostgresSettings | ValkeySettings = s.postgres if engine == catalog.POSTGRES else s.valkey
        return cls(
            cluster_name=cluster_name(s, engine), region=s.region, version=db.version, size=db.size,
            node_count=db.nodes, vpc_id=vpc_id, maintenance_day=db.maintenance.day,
            maintenance_hour=db.maintenance.hour, tags=resource_tags(s), alerts=s.alerts,
            protect=s.protect,
        )

    def check(self, component: str) -> None:
        """The constructor's own guard, for callers that bypass the settings model."""
        if self.size not in catalog.DATABASE_SIZES:
            raise ValueError(f"{component}: size {self.size!r} is not a managed database size "
                             f"({', '.join(catalog.DATABASE_SIZES)})")
        if self.node_count > 1 and not catalog.DATABASE_SIZES[self.size].allows_standby:
            raise ValueError(f"{component}: node_count {self.node_count} needs standby nodes, which "
                             f"{self.size} does not allow; use a plan with at least 2 GiB")


def managed_cluster(name: str, engine: catalog.Engine, args: ClusterArgs, parent: pulumi.Resource, **engine_args):
    """The cluster (protected when the stack asks) and its CPU, memory and disk alerts."""
    cluster = do.DatabaseCluster(
        f"{name}-cluster",
        name=args.cluster_name,
        engine=engine.cluster,
        version=args.version,
        size=args.size,
        node_count=args.node_count,
        region=args.region,
        private_network_uuid=args.vpc_id,
        maintenance_windows=[{"day": args.maintenance_day, "hour": args.maintenance_hour}],
        tags=args.tags,
        **engine_args,
        # Deleting or replacing a cluster loses its data: `protect` makes `pulumi up` refuse.
        opts=pulumi.ResourceOptions(parent=parent, protect=args.protect),
    )
    destinations = alert_destinations(args.alerts, slack_key="slacks")
    alerts = []
    # A monitor alert must notify someone; without destinations the policy pack flags the stack.
    for role, kind, threshold in DATABASE_ALERTS if destinations else ():
        value = getattr(args.alerts, threshold) if threshold else DISK_ALERT_PERCENT
        alerts.append(do.MonitorAlert(
            f"{name}-alert-{role}",
            type=kind,
            description=f"{args.cluster_name}: {role} above {value}%",
            compare="GreaterThan",
            value=value,
            window="5m",
            entities=[cluster.id],
            # The dict MonitorAlertAlertsArgsDict describes (alert_destinations with slack_key="slacks").
            alerts=cast("do.MonitorAlertAlertsArgsDict | None", destinations),
            enabled=True,
            opts=pulumi.ResourceOptions(parent=parent),
        ))
    return cluster, alerts
