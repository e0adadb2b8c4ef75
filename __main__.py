"""n8n in queue mode on DigitalOcean: settings -> components -> exports. The logic lives in components/."""

import pulumi

from builders.deployment import deployment_from_settings, stack_cost
from builders.observability import alert_rules
from components.app import N8nApp, N8nAppArgs
from components.backup_storage import BackupStorage, BackupStorageArgs
from components.budget import Budget, BudgetArgs
from components.database import ClusterArgs
from components.network import Network, NetworkArgs
from components.postgres import Postgres, PostgresArgs
from components.secrets import Secrets, SecretsArgs
from components.uptime import Uptime, UptimeArgs
from components.valkey import Valkey
from platform_model import catalog
from platform_model.capacity import capacity_report
from stack.loader import settings_from_pulumi

settings = settings_from_pulumi()

network = Network("n8n-network", NetworkArgs.from_settings(settings))
secrets = Secrets("n8n-secrets", SecretsArgs.from_settings(settings))
postgres = Postgres("n8n-postgres", PostgresArgs.from_settings(settings, network.vpc.id))
valkey = Valkey("n8n-valkey", ClusterArgs.from_settings(settings, catalog.VALKEY, network.vpc.id))
backup_args = BackupStorageArgs.from_settings(settings)
backups = BackupStorage("n8n-backups", backup_args) if backup_args else None
app = N8nApp("n8n", N8nAppArgs(settings, network.vpc.id, postgres, valkey, secrets, backups))
Budget("n8n-budget", BudgetArgs.from_settings(settings))
if settings.observability.uptime.enabled:
    Uptime("n8n-uptime", UptimeArgs(settings, app.app.live_url))

pulumi.export("app_url", app.app.live_url)
pulumi.export("app_id", app.app.id)
pulumi.export("postgres_cluster", postgres.cluster.name)
pulumi.export("valkey_cluster", valkey.cluster.name)
pulumi.export("worker_pairs", settings.workers.pairs)
# The release the stack runs: the deploy workflow compares it with n8n.version before `pulumi up`
# (python -m offline.upgrade) to refuse a downgrade and record a restore point.
pulumi.export("n8n_version", settings.n8n.version)
pulumi.export("encryption_key", secrets.encryption_key)
if backups:
    # For `python -m rehearsal.verify --backups` and restores: a key that can only read the bucket.
    pulumi.export("backup_reader", backups.read_credentials())
if postgres.replica:
    pulumi.export("postgres_replica", postgres.replica.name)
pulumi.export("runner_auth_tokens", secrets.runner_tokens)
# What the stack costs per month at its minimum and maximum scale, and what it can carry
# (docs/cost-and-capacity.md): the same numbers `python -m offline.render` prints before anything is deployed.
pulumi.export("monthly_cost", stack_cost(settings).as_output(settings.cost.monthly_budget))
pulumi.export("capacity", capacity_report(deployment_from_settings(settings)))
# Prometheus alert rules for the metrics the collector ships (docs/observability.md): load them where the
# metrics land (Grafana Cloud, Mimir, Prometheus); `python -m offline.alert_rules <stack>` prints the same.
pulumi.export("alert_rules", alert_rules(settings))
