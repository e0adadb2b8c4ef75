"""Insecure variants of the prod stack, and which layer stops each.

A variant is either a settings change (`overrides`, merged into Pulumi.prod.yaml) or a code change
(`mutate`, applied to the registered resources as a careless edit of the program would change them).
Where the settings validation refuses the overrides, the pack must still catch the variant on its own,
so the variant is then produced with `mutate` and sent through the pack anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stackedit import StackEdit

N8N_PROCESSES = ("n8n-main", "n8n-worker-1", "n8n-worker-2")
RUNNER_POOLS = ("n8n-runners-1", "n8n-runners-2")
AUTOSCALING = {"minInstances": 1, "maxInstances": 3, "cpuPercent": 70}


@dataclass(frozen=True)
class Variant:
    name: str
    policy: str  # the policy that must name it
    overrides: dict | None = None  # as a stack-file change
    mutate: Callable[[StackEdit], object] | None = None  # as a code change (its result is ignored)

    @property
    def as_settings(self) -> bool:
        return self.overrides is not None


def _every(edit: StackEdit, names, key, value):
    for n in names:
        edit.set_env(n, key, value)


def _token(edit: StackEdit, worker: int, value: str):
    edit.set_env(f"n8n-worker-{worker}", "N8N_RUNNERS_AUTH_TOKEN", value)
    edit.set_env(f"n8n-runners-{worker}", "N8N_RUNNERS_AUTH_TOKEN", value)


def _autoscale(edit: StackEdit, name: str, size: str | None = None):
    c = edit.component(name)
    c.pop("instanceCount", None)
    c["autoscaling"] = {"minInstanceCount": 1, "maxInstanceCount": 3, "metrics": {"cpu": {"percent": 70}}}
    if size:
        c["instanceSizeSlug"] = size


def _drop_env(edit: StackEdit, names, key: str):
    for n in names:
        edit.drop_env(n, key)


def _remove(edit: StackEdit, names):
    for n in names:
        edit.remove(n)


def _tags(edit: StackEdit, names, tag: str):
    for n in names:
        edit.component(n)["image"]["tag"] = tag


def _unlisted_image(edit: StackEdit, name: str):
    image = edit.component(name)["image"]
    edit.component(name)["image"] = {"registryType": "DOCKER_HUB", "registry": "n8n-community-builds",
                                     "repository": "n8n", "tag": image.get("tag")}


SHARED = "shared-token-" + "x" * 30
HUB_CREDENTIALS = "n8nops:dckr_pat_" + "q" * 36
PRIVATE_PG_HOST = "private-n8n-prod-pg-do-user-0.db.ondigitalocean.com"  # DigitalOcean's VPC-only host form


def _hub_token_in_env(edit: StackEdit):
    for kind in ("services", "workers", "jobs"):
        for c in edit.spec.get(kind, []):
            c["image"]["registryCredentials"] = HUB_CREDENTIALS
    edit.set_env("n8n-main", "DOCKER_HUB_TOKEN", HUB_CREDENTIALS.partition(":")[2])

VARIANTS = [
    Variant("weak encryption key", "n8n-encryption-key", {"encryptionKey": "short-key-123"},
            lambda e: _every(e, N8N_PROCESSES, "N8N_ENCRYPTION_KEY", "short-key-123")),
    Variant("placeholder runner token", "runner-auth-tokens", {"runnerAuthTokens": {"n8n-worker-1": "<REQUIRED>"}},
            lambda e: _token(e, 1, "<REQUIRED>")),
    Variant("one token shared by two brokers", "runner-auth-tokens",
            {"runnerAuthTokens": {"n8n-worker-1": SHARED, "n8n-worker-2": SHARED}},
            lambda e: (_token(e, 1, SHARED), _token(e, 2, SHARED))),
    Variant("token in a plain-text env var", "secret-env-vars",
            mutate=lambda e: e.set_env("n8n-db-grants", "PGPASSWORD", type_="GENERAL")),
    Variant("single-node production database", "database-high-availability", {"postgres": {"nodes": 1}}),
    Variant("Valkey standby on a 1 GiB plan", "database-high-availability", {"valkey": {"size": "db-s-1vcpu-1gb"}},
            lambda e: e.props("n8n-valkey-cluster").update(size="db-s-1vcpu-1gb")),
    Variant("open firewall (0.0.0.0/0)", "database-trusted-sources",
            mutate=lambda e: e.props("n8n-postgres-trusted-sources").update(
                rules=[{"type": "ip_addr", "value": "0.0.0.0/0"}])),
    Variant("cluster outside the VPC", "private-network",
            mutate=lambda e: e.props("n8n-valkey-cluster").pop("privateNetworkUuid")),
    Variant("VPC-only database host, app outside the VPC", "private-network",
            mutate=lambda e: _every(e, N8N_PROCESSES, "DB_POSTGRESDB_HOST", PRIVATE_PG_HOST)),
    Variant("Docker Hub token in a plain-text env var", "registry-credentials", mutate=_hub_token_in_env),
    Variant("TLS verification off", "database-tls",
            mutate=lambda e: _every(e, N8N_PROCESSES, "DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED", "false")),
    Variant("n8n connects as doadmin", "database-access-roles",
            mutate=lambda e: _every(e, N8N_PROCESSES, "DB_POSTGRESDB_USER", "doadmin")),
    Variant("eviction allkeys-lru", "valkey-noeviction",
            mutate=lambda e: e.props("n8n-valkey-cluster").update(evictionPolicy="allkeys_lru")),
    Variant("SQLite instead of PostgreSQL", "managed-database-backups",
            mutate=lambda e: _drop_env(e, N8N_PROCESSES, "DB_TYPE")),
    Variant("runner pool behind an autoscaled worker", "runner-topology", {"workers": {"autoscaling": AUTOSCALING}},
            lambda e: _autoscale(e, "n8n-worker-1")),
    Variant("offload off without main's runner pool", "runner-topology",
            mutate=lambda e: e.set_env("n8n-main", "OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS", "false")),
    Variant("n8n image from an unlisted registry", "image-sources",
            mutate=lambda e: _unlisted_image(e, "n8n-worker-1")),
    Variant("worker started from a shell script", "n8n-components-recognised",
            mutate=lambda e: e.component("n8n-worker-1").update(runCommand="sh -c 'sleep 5 && n8n worker'")),
    Variant("mismatched runner tag", "image-pinning", mutate=lambda e: _tags(e, RUNNER_POOLS, "2.40.0")),
    Variant("latest tag", "image-pinning", {"n8n": {"version": "latest"}},
            lambda e: _tags(e, N8N_PROCESSES + RUNNER_POOLS, "latest")),
    Variant("main with 2 instances", "main-single-instance", {"main": {"instances": 2}},
            lambda e: e.component("n8n-main").update(instanceCount=2)),
    Variant("autoscaling on apps-s-*", "autoscaling-dedicated-sizes",
            {"runners": {"size": "apps-s-1vcpu-1gb", "autoscaling": AUTOSCALING}},
            lambda e: [_autoscale(e, p, "apps-s-1vcpu-1gb") for p in RUNNER_POOLS]),
    Variant("size left to App Platform's default", "instance-sizes-planned",
            mutate=lambda e: e.component("n8n-worker-2").pop("instanceSizeSlug")),
    Variant("worker without health check", "health-checks",
            mutate=lambda e: e.component("n8n-worker-1").pop("healthCheck")),
    Variant("grace period shorter than n8n's shutdown", "graceful-shutdown",
            mutate=lambda e: e.component("n8n-worker-1")["termination"].update(gracePeriodSeconds=20)),
    Variant("no alerts", "app-alerts", {"alerts": {"emails": []}}),
    Variant("no database alerts", "database-alerts",
            mutate=lambda e: _remove(e, [f"n8n-postgres-alert-{k}" for k in ("cpu", "memory", "disk")])),
    Variant("unprotected cluster", "stateful-resources-protected", {"protect": False}),
]
