"""Checklist: monitoring and alerts.

Someone must hear about a failed deployment, a component that runs hot or keeps restarting, and a
database that fills up. An alert without a destination notifies no one.

Unknown values: an alert list unknown at preview is a violation; a destination list unknown at preview
(computed addresses) counts as a destination.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from platform_model.catalog import APP, CLUSTER, MONITOR_ALERT
from platform_model.spec_fields import is_unknown
from platform_model.spec_reader import AppSpec

from .resources import Stack, StackProblems, app_check, resource_policy, stack_policy

# App Platform alert rules (DigitalOcean app spec `alerts[].rule`).
APP_RULES = ("DEPLOYMENT_FAILED",)
DOMAIN_RULE = "DOMAIN_FAILED"
COMPONENT_RULES = ("CPU_UTILIZATION", "MEM_UTILIZATION", "RESTART_COUNT")
# DigitalOcean Monitoring alert types for managed databases.
DATABASE_ALERT_TYPES = {
    "cpu": "v1/dbaas/alerts/cpu_alerts",
    "memory": "v1/dbaas/alerts/memory_utilization_alerts",
    "disk": "v1/dbaas/alerts/disk_utilization_alerts",
}


def _has_destination(destinations: Any, *lists: str) -> bool:
    if is_unknown(destinations):
        return True
    if not isinstance(destinations, dict):
        return False
    return any(is_unknown(destinations.get(k)) or destinations.get(k) for k in lists)


def _missing_rules(where: str, alerts: Any, required: tuple[str, ...]) -> list[str]:
    if is_unknown(alerts):
        return [f"{where}: its alerts are not known at preview"]
    live = {a.get("rule"): a for a in alerts or [] if isinstance(a, dict) and not a.get("disabled")}
    problems = []
    missing = [r for r in required if r not in live]
    if missing:
        problems.append(f"{where} has no {', '.join(missing)} alert")
    silent = [r for r, alert in live.items()
              if not _has_destination(alert.get("destinations"), "emails", "slackWebhooks")]
    if silent:
        problems.append(f"{where}: the {', '.join(map(str, silent))} alert(s) have no destination (emails or Slack)")
    return problems


def app_alert_problems(spec: AppSpec, _args) -> list[str]:
    required = APP_RULES + ((DOMAIN_RULE,) if spec.data.get("domainNames") else ())
    problems = _missing_rules("the app", spec.data.get("alerts"), required)
    for component in spec.components():
        if component.kind != "jobs":
            problems += _missing_rules(component.name, component.data.get("alerts"), COMPONENT_RULES)
    return problems


app_alerts = resource_policy(
    name="app-alerts",
    description=("The app alerts on failed deployments, and every service and worker on CPU, memory and "
                 "restarts, each with a destination."),
    severity=Severity.MEDIUM,
    remediation=(
        "Set `alerts.emails` (DigitalOcean team members) or `alerts.slackWebhooks` in the stack file; the "
        "program then attaches DEPLOYMENT_FAILED/DOMAIN_FAILED to the app and CPU, memory and restart alerts "
        "to every component."
    ),
    types=(APP,),
    check=app_check(app_alert_problems),
)


def database_alert_problems(stack: Stack) -> StackProblems:
    alerts = stack.of_type(MONITOR_ALERT)
    for cluster in stack.of_type(CLUSTER):
        watching = [a for a in alerts if stack.depends_on(a, "entities", cluster)
                    and stack.props(a).get("enabled") is not False]
        kinds = {stack.props(a).get("type") for a in watching}
        missing = [name for name, kind in DATABASE_ALERT_TYPES.items() if kind not in kinds]
        if missing:
            yield cluster.urn, f"{cluster.name} has no {', '.join(missing)} alert"
        for alert in watching:
            if not _has_destination(stack.props(alert).get("alerts"), "emails", "slacks"):
                yield alert.urn, f"{alert.name} notifies no one (no emails or Slack channels)"


database_alerts = stack_policy(
    name="database-alerts",
    description="Every database cluster has CPU, memory and disk alerts with a destination.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set `alerts.emails` or `alerts.slackWebhooks`: components/database.py then creates CPU, memory and "
        "disk MonitorAlerts for each cluster. Without destinations it creates none."
    ),
    check=database_alert_problems,
)

POLICIES = [app_alerts, database_alerts]
