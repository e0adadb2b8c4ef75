"""n8n in queue mode on DigitalOcean: settings -> components -> exports. The logic lives in components/."""

import pulumi

from components.app import N8nApp, N8nAppArgs
from components.budget import Budget, BudgetArgs
from builders.deployment import deployment_from_settings, stack_cost
from components.database import ClusterArgs
from components.network import Network, NetworkArgs
from components.postgres import Postgres, PostgresArgs
from components.secrets import Secrets, SecretsArgs
from stack.loader import settings_from_pulumi
from components.valkey import Valkey
from platform_model import catalog
from platform_model.capacity import capacity_report

settings = settings_from_pulumi()

network = Network("n8n-network", NetworkArgs.from_settings(settings))
secrets = Secrets("n8n-secrets", SecretsArgs.from_settings(settings))
postgres = Postgres("n8n-postgres", PostgresArgs.from_settings(settings, network.vpc.id))
valkey = Valkey("n8n-valkey", ClusterArgs.from_settings(settings, catalog.VALKEY, network.vpc.id))
app = N8nApp("n8n", N8nAppArgs(settings, network.vpc.id, postgres, valkey, secrets))
Budget("n8n-budget", BudgetArgs.from_settings(settings))

pulumi.export("app_url", app.app.live_url)
pulumi.export("app_id", app.app.id)
pulumi.export("postgres_cluster", postgres.cluster.name)
pulumi.export("valkey_cluster", valkey.cluster.name)
pulumi.export("worker_pairs", settings.workers.pairs)
pulumi.export("encryption_key", secrets.encryption_key)
pulumi.export("runner_auth_tokens", secrets.runner_tokens)
# What the stack costs per month at its minimum and maximum scale, and what it can carry
# (docs/cost-and-capacity.md): the same numbers `python -m offline.render` prints before anything is deployed.
pulumi.export("monthly_cost", stack_cost(settings).as_output(settings.cost.monthly_budget))
pulumi.export("capacity", capacity_report(deployment_from_settings(settings)))
