"""Checklist: configuration documented — and what the spec says is what n8n reads.

A setting n8n no longer reads (N8N_RUNNERS_ENABLED: runners are always on in 2.x) tells a reader something
false about the deployment; a deprecated one (WEBHOOK_URL) stops working at an upgrade. The list is the
part of n8n 2.41.1's own deprecation check (`dist/deprecation/deprecation.service.js`) that applies
whatever the value; value-dependent ones (internal runner mode, manual executions on main) are
runner-topology's.

Advisory: nothing breaks today. Values are not read, so unknowns do not matter.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from platform_model.catalog import APP
from platform_model.spec_reader import AppSpec

from .resources import app_check, resource_policy

NO_LONGER_READ = "n8n 2.41 no longer reads it; remove it"
# env var -> what to do instead
DEPRECATED = {
    "N8N_RUNNERS_ENABLED": "n8n 2.41 no longer reads it: task runners are always on, and N8N_RUNNERS_MODE says where "
                           "they run; remove it",
    "WEBHOOK_URL": "deprecated; set N8N_WEBHOOK_URL, the base URL of test and production webhooks, instead",
    "EXECUTIONS_PROCESS": NO_LONGER_READ,
    "N8N_BINARY_DATA_TTL": NO_LONGER_READ,
    "N8N_PERSISTED_BINARY_DATA_TTL": NO_LONGER_READ,
    "EXECUTIONS_DATA_PRUNE_TIMEOUT": NO_LONGER_READ,
    "N8N_AVAILABLE_BINARY_DATA_MODES": NO_LONGER_READ,
    "N8N_SKIP_WEBHOOK_DEREGISTRATION_SHUTDOWN": NO_LONGER_READ,
    "N8N_EXPRESSION_EVALUATOR": NO_LONGER_READ,
    "N8N_EXPRESSION_REPORT_DIFFERENCE": NO_LONGER_READ,
    "N8N_BINARY_DATA_STORAGE_PATH": "deprecated; set N8N_STORAGE_PATH instead",
    "N8N_DB_PING_TIMEOUT": "deprecated; set DB_PING_TIMEOUT_MS instead",
    "N8N_CONFIG_FILES": "deprecated; set each value as an env var (or a *_FILE variable)",
}


def deprecated_problems(spec: AppSpec, _args) -> list[str]:
    return [f"{c.name}: {key}: {DEPRECATED[key]}" for c in spec.n8n_components() for key in c.env if key in DEPRECATED]


deprecated_settings = resource_policy(
    name="n8n-deprecated-settings",
    description="No n8n component carries a setting n8n 2.x ignores or has deprecated.",
    severity=Severity.LOW,
    remediation=(
        "Remove N8N_RUNNERS_ENABLED and the other settings n8n no longer reads; replace WEBHOOK_URL with "
        "N8N_WEBHOOK_URL (builders/env.py sets only current settings). n8n logs the same list at start-up."
    ),
    types=(APP,),
    check=app_check(deprecated_problems),
    level=EnforcementLevel.ADVISORY,  # nothing breaks today; it misleads readers and breaks at an upgrade
)

POLICIES = [deprecated_settings]
