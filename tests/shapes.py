"""Every shape of stack the settings allow, as one table: a shipped stack file and the settings a user
would change in it. Every `Pulumi.<stack>.yaml` of the project is a row as it is; a new setting that
changes what the program registers adds one row here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

AUTOSCALING = {"minInstances": 1, "maxInstances": 3, "cpuPercent": 70}
# Stand-ins for secrets a user sets with `pulumi config set --secret`: long, and no pattern.
ENCRYPTION_KEY = "q7Xv2LmR9tKp4WzN8cYb3HfJ6sDg1AeU5oPiVk0nQyTx"
RUNNER_TOKENS = {"n8n-worker-1": "Gh5Rt8Lk2Vb9Nm4Qw7Zx1Cs6Df3Jp0YaEu",
                 "n8n-worker-2": "Mk3Pz7Wq1Ts5Lx9Rb2Nv6Hc8Fj4Yd0GoUe"}
LICENSE_KEY = "f3c9a1e7-52bd-4c08-9e6a-7d21b4f08c3e"
DOCKER_HUB_CREDENTIALS = "n8nops:dckr_pat_Vb7Qm2Xz9Lk4Tr8Wn1Ps6Hd3Jf0Gc5Ya"
LOG_DESTINATION_SECRET = "Zt4Wq8Nm2Xr6Lp0Vb3Hc7Jd1Fg5Ks9Ya"
METRICS_AUTHORIZATION = "Basic MTIzNDU2OmdsY19aVDRXcThObTJYcjZMcDBWYjNIYzdKZDFGZzVLczlZYQ=="
OBSERVABILITY = {
    "logs": {"level": "debug", "format": "json", "database": True,
             "destination": {"kind": "openSearch", "endpoint": "https://logs.example.com:9200", "user": "n8n",
                             "indexName": "n8n-logs"}},
    "metrics": {"remote": {"protocol": "prometheusRemoteWrite",
                           "endpoint": "https://prometheus.example.net/api/prom/push"},
                "scrapeIntervalSeconds": 15, "collectorSize": "apps-s-1vcpu-1gb"},
    "uptime": {"regions": ["eu_west", "us_east", "se_asia"], "latencyMs": 1500, "tlsExpiryDays": 21,
               "period": "5m"},
}


@dataclass(frozen=True)
class Shape:
    name: str
    stack: str
    overrides: dict = field(default_factory=dict)  # merged into Pulumi.<stack>.yaml (stackrun.stack_config)


STACK_FILES = [Shape(stack, stack)
               for stack in sorted(p.stem.removeprefix("Pulumi.") for p in ROOT.glob("Pulumi.*.yaml"))]

SHAPES = STACK_FILES + [
    Shape("PgBouncer pool, transaction mode", "prod", {"postgres": {"connectionPool": {"mode": "transaction"}}}),
    Shape("PgBouncer pool, session mode, sized", "prod",
          {"postgres": {"connectionPool": {"mode": "session", "size": 40}}}),
    Shape("webhook processors", "prod", {"webhooks": {"processors": 2}}),
    Shape("autoscaled runners and webhook processors", "prod",
          {"runners": {"autoscaling": AUTOSCALING}, "webhooks": {"autoscaling": AUTOSCALING}}),
    Shape("offload off: main's own broker and runners", "prod", {"n8n": {"offloadManualExecutions": False}}),
    Shape("multi-main with a licence, autoscaled", "prod",
          {"n8n": {"multiMain": True}, "licenseKey": LICENSE_KEY, "main": {"autoscaling": AUTOSCALING}}),
    Shape("multi-main with a licence, two instances", "prod",
          {"n8n": {"multiMain": True}, "licenseKey": LICENSE_KEY, "main": {"instances": 2}}),
    Shape("custom domain", "prod", {"domain": "n8n.example.com"}),
    Shape("e-mail and Slack alerts", "prod",
          {"alerts": {"slackWebhooks": [{"url": "https://hooks.slack.com/services/T0000/B0000/abcdefghijkl",
                                         "channel": "#n8n-ops"}]}}),
    Shape("Slack alerts only", "staging",
          {"alerts": {"emails": [], "slackWebhooks": [{"url": "https://hooks.slack.com/services/T1/B1/xyz",
                                                       "channel": "#alerts"}]}}),
    Shape("no alerts", "prod", {"alerts": {"emails": []}}),
    Shape("price overrides", "prod",
          {"cost": {"prices": {"app": {"apps-d-1vcpu-2gb": 41}, "postgres": {"db-s-2vcpu-4gb": 61},
                               "valkey": {"db-s-1vcpu-2gb": 31}}}}),
    Shape("secrets set in config", "prod", {"encryptionKey": ENCRYPTION_KEY, "runnerAuthTokens": RUNNER_TOKENS}),
    Shape("three-node databases, unprotected", "prod",
          {"postgres": {"nodes": 3}, "valkey": {"nodes": 3}, "protect": False}),
    Shape("named, other region, many pairs", "prod",
          {"name": "acme-n8n", "region": "nyc3", "workers": {"pairs": 6}, "runners": {"instances": 2}}),
    Shape("app attached to the VPC", "prod", {"app": {"vpc": True}}),
    Shape("app attached to the VPC, with a pool", "prod",
          {"app": {"vpc": True}, "postgres": {"connectionPool": {"mode": "transaction"}}}),
    Shape("run_command replaces the image's CMD", "prod", {"app": {"runCommandReplaces": "cmd"}}),
    Shape("Docker Hub credentials", "prod", {"dockerHubCredentials": DOCKER_HUB_CREDENTIALS}),
    Shape("restored from a fork at a time, replica, backups in another region", "prod",
          {"encryptionKey": ENCRYPTION_KEY,
           "postgres": {"restoreFrom": {"cluster": "n8n-old-pg", "time": "2026-11-27T03:00:00Z"},
                        "replica": {"region": "fra1", "size": "db-s-4vcpu-8gb"}},
           "backups": {"recipient": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
                       "schedule": "1h", "retentionDays": 7, "region": "fra1", "bucket": "acme-n8n-dumps"}}),
    Shape("restored from the latest backup, with a pool", "prod",
          {"encryptionKey": ENCRYPTION_KEY, "postgres": {"restoreFrom": {"cluster": "n8n-old-pg"},
                                                         "connectionPool": {"mode": "transaction"}}}),
    Shape("every observability setting on: app and PostgreSQL logs to OpenSearch, collector, uptime, retention",
          "prod",
          {"observability": OBSERVABILITY, "logDestinationSecret": LOG_DESTINATION_SECRET,
           "metricsAuthorization": METRICS_AUTHORIZATION, "dockerHubCredentials": DOCKER_HUB_CREDENTIALS,
           "webhooks": {"processors": 1},
           "executions": {"maxAgeHours": 168, "maxCount": 50000, "saveSuccessful": False, "saveManual": False},
           "hardening": {"restrictFileAccessTo": "/home/node/files"},
           "postgres": {"storageAutoscale": {"thresholdPercent": 75, "incrementGib": 20}}}),
    Shape("logs to Datadog, metrics over OTLP, no uptime check", "prod",
          {"observability": {"logs": {"destination": {"kind": "datadog"}},
                             "metrics": {"remote": {"protocol": "otlpHttp",
                                                    "endpoint": "https://otlp.example.com/v1/metrics"}},
                             "uptime": {"enabled": False}},
           "logDestinationSecret": LOG_DESTINATION_SECRET,
           "postgres": {"storageAutoscale": {"enabled": False}}}),
    Shape("logs and PostgreSQL's logs to Papertrail, metrics off", "staging",
          {"observability": {"logs": {"database": True, "destination": {"kind": "papertrail",
                                                      "endpoint": "logs3.papertrailapp.com:12345"}},
                             "metrics": {"enabled": False}}}),
    Shape("images pinned by digest, major upgrade acknowledged", "prod",
          {"n8n": {"digests": {"version": "2.41.1", "n8n": "sha256:" + "4e" * 32, "runners": "sha256:" + "7a" * 32}},
           "upgrade": {"acknowledgeMajor": 3}}),
]
