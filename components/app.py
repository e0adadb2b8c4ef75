"""The App Platform app that runs n8n, and the trusted sources that admit only it to the databases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_digitalocean as do
from pydantic import SecretStr

from builders.app_spec import alert_destinations, build_app_spec, to_sdk_spec
from builders.env import SecretValues
from settings.model import Settings

from .backup_storage import BackupStorage
from .postgres import Postgres
from .secrets import Secrets
from .valkey import Valkey


def _secret(value: SecretStr | None) -> pulumi.Output[str] | None:
    return None if value is None else pulumi.Output.secret(value.get_secret_value())


@dataclass
class N8nAppArgs:
    settings: Settings
    vpc_id: pulumi.Input[str]
    postgres: Postgres
    valkey: Valkey
    secrets: Secrets
    backups: BackupStorage | None = None


class N8nApp(pulumi.ComponentResource):
    def __init__(self, name: str, args: N8nAppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:app:N8nApp", name, None, opts)
        s = args.settings
        secrets = SecretValues(
            encryption_key=args.secrets.encryption_key,
            runner_tokens=args.secrets.runner_tokens,
            # doadmin's password, only for the pre-deploy job that grants n8n's user its schema.
            db_admin_password=pulumi.Output.secret(args.postgres.cluster.password),
            license_key=args.secrets.license_key,
            docker_hub_credentials=args.secrets.docker_hub_credentials,
            log_destination_secret=_secret(s.log_destination_secret),
            metrics_authorization=_secret(s.metrics_authorization),
            backup_access_key=pulumi.Output.secret(args.backups.writer.access_key) if args.backups else None,
            backup_secret_key=pulumi.Output.secret(args.backups.writer.secret_key) if args.backups else None,
        )
        api_spec = build_app_spec(
            s,
            vpc_id=args.vpc_id,
            # Outputs, not the known names: they order the app after the clusters it attaches.
            postgres_cluster=args.postgres.cluster.name,
            valkey_cluster=args.valkey.cluster.name,
            secrets=secrets,
        )
        self.app = do.App(
            f"{name}-app",
            # The nested dict that AppSpecArgsDict describes (checked against the provider's schema by
            # `pytest -m schemas`); mypy cannot see that through the builder's plain dict.
            spec=cast(do.AppSpecArgsDict, to_sdk_spec(api_spec, alert_destinations(s.alerts))),
            # The spec binds n8n's database, user and pool by name: App Platform resolves them when it
            # deploys, so they must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.postgres.bound_by_name()),
        )
        # Trusted sources: each cluster admits this app and nothing else.
        self.firewalls = [
            do.DatabaseFirewall(
                f"{name}-{label}-trusted-sources",
                cluster_id=cluster.id,
                rules=[{"type": "app", "value": self.app.id}],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for label, cluster in (("postgres", args.postgres.cluster), ("valkey", args.valkey.cluster))
        ]
        self.register_outputs({"app_id": self.app.id, "live_url": self.app.live_url})
