"""What a stack's resources are called and tagged, and which n8n processes it runs: names the program,
the offline tools and the rehearsal derive from settings the same way."""

from __future__ import annotations

from platform_model.catalog import Engine
from platform_model.topology import Topology, plan
from settings.model import Settings


def topology_for(s: Settings) -> Topology:
    return plan(pairs=s.workers.pairs, offload_manual_executions=s.n8n.offload_manual_executions,
                webhook=bool(s.webhooks.processors or s.webhooks.autoscaling))


def cluster_name(s: Settings, engine: Engine) -> str:
    return f"{s.app_name}-{engine.cluster}"


def resource_tags(s: Settings) -> list[str]:
    return ["n8n-platform", s.app_name]


def backup_bucket(s: Settings) -> str:
    return (s.backups and s.backups.bucket) or f"{s.app_name}-backups"


def backup_region(s: Settings) -> str:
    return (s.backups and s.backups.region) or s.region
