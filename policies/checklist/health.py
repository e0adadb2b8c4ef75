"""Checklist: all components healthy (health checks defined), and deployments that do not cut work.

App Platform routes traffic to a service instance, and lets a deployment go live, only while its
`health_check` (readiness) passes, and restarts an instance whose `liveness_health_check` fails. n8n
serves both: `/healthz/readiness` (database connected and migrated, process fully started; workers also
need Redis, and serve it only with QUEUE_HEALTH_CHECK_ACTIVE=true) and `/healthz` (the process is up).
So every n8n service needs readiness on `/healthz/readiness` — on `/healthz`, main takes traffic before
its migrations finish — and every n8n process a liveness check that is not readiness, or a database
failover restarts every process at once. Runner pools need a liveness check on the launcher's port. On a
deployment App Platform sends SIGTERM and kills after `termination.grace_period_seconds`; n8n waits up
to N8N_GRACEFUL_SHUTDOWN_TIMEOUT for running executions, so that must fit inside the grace period.

Unknown values: a health check, flag or timeout unknown at preview is a violation.
"""

from __future__ import annotations

from pulumi_policy import Severity

from platform_model import catalog, roles
from platform_model.catalog import APP
from platform_model.spec_fields import is_unknown, number
from platform_model.spec_reader import AppSpec, Component

from .resources import app_check, resource_policy


def _http_check_problem(component: Component, field: str) -> str | None:
    check = component.data.get(field)
    if is_unknown(check):
        return f"{component.name}: its {field} is not known at preview"
    if not isinstance(check, dict) or not check.get("httpPath"):
        return (f"{component.name} has no HTTP {field}; App Platform cannot tell when it stops working "
                "(set http_path and port)")
    return None


def _n8n_process_problems(process: Component) -> list[str]:
    problems = []
    if process.kind == "services":  # worker components take no traffic: App Platform has no readiness for them
        problem = _http_check_problem(process, "healthCheck")
        path = (process.data.get("healthCheck") or {}).get("httpPath")
        if problem is None and path != catalog.READINESS_PATH:
            problem = (f"{process.name}: its healthCheck is on {path}, which answers before n8n is ready; App "
                       f"Platform would route traffic to it too early (use {catalog.READINESS_PATH})")
        problems += [problem] if problem else []
    problem = _http_check_problem(process, "livenessHealthCheck")
    if problem is None and process.data["livenessHealthCheck"].get("httpPath") == catalog.READINESS_PATH:
        problem = (f"{process.name}: its livenessHealthCheck is on {catalog.READINESS_PATH}, which fails during a "
                   f"database failover and would restart every n8n process at once (use {catalog.LIVENESS_PATH})")
    problems += [problem] if problem else []
    if process.role == roles.WORKER and process.flag("QUEUE_HEALTH_CHECK_ACTIVE") is not True:
        problems.append(f"{process.name}: QUEUE_HEALTH_CHECK_ACTIVE is not true, so the worker serves no "
                        "/healthz and its health checks fail")
    return problems


def health_problems(spec: AppSpec, _args) -> list[str]:
    problems = [p for process in spec.n8n_processes() for p in _n8n_process_problems(process)]
    for pool in spec.runner_pools():
        problem = _http_check_problem(pool, "livenessHealthCheck")
        if problem:
            problems.append(problem)
    return problems


health_checks = resource_policy(
    name="health-checks",
    description=("Every n8n service has a readiness check on /healthz/readiness, every n8n process a liveness "
                 "check that does not read the database (workers with QUEUE_HEALTH_CHECK_ACTIVE), and every "
                 "runner pool a liveness check."),
    severity=Severity.MEDIUM,
    remediation=(
        f"Keep the health checks of builders/app_spec.py: health_check on `{catalog.READINESS_PATH}` and "
        f"liveness_health_check on `{catalog.LIVENESS_PATH}`, port {catalog.N8N_HTTP_PORT}, for main, workers "
        "(with QUEUE_HEALTH_CHECK_ACTIVE=true) and webhook processors, and a liveness check on `/healthz` port "
        f"{catalog.RUNNER_HEALTH_PORT} for runner pools."
    ),
    types=(APP,),
    check=app_check(health_problems),
)


SHUTDOWN = "N8N_GRACEFUL_SHUTDOWN_TIMEOUT"


def shutdown_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    for process in spec.n8n_processes():
        raw = process.value(SHUTDOWN, str(catalog.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS))
        termination = process.data.get("termination") or {}
        grace = (termination if is_unknown(termination) else
                 termination.get("gracePeriodSeconds", catalog.APP_PLATFORM_DEFAULT_GRACE_PERIOD_SECONDS))
        shutdown = float(raw) if isinstance(raw, str) and raw.isdigit() else None
        limit = number(grace)
        if shutdown is None or limit is None:
            problems.append(f"{process.name}: {SHUTDOWN} or termination.grace_period_seconds is not a known "
                            "number")
            continue
        if shutdown + catalog.SHUTDOWN_MARGIN_SECONDS > limit:
            problems.append(f"{process.name}: n8n may take {shutdown:.0f} s to shut down ({SHUTDOWN}) but App "
                            f"Platform kills it after {number(grace):.0f} s; running executions would be cut. "
                            f"Give termination.grace_period_seconds at least "
                            f"{shutdown + catalog.SHUTDOWN_MARGIN_SECONDS:.0f}")
    return problems


graceful_shutdown = resource_policy(
    name="graceful-shutdown",
    description=("Every n8n process's graceful shutdown (N8N_GRACEFUL_SHUTDOWN_TIMEOUT) fits its termination "
                 "grace period."),
    severity=Severity.MEDIUM,
    remediation=(
        "Set `n8n.gracefulShutdownSeconds`; the program gives every n8n component a grace period "
        f"{catalog.SHUTDOWN_MARGIN_SECONDS} s longer. Do not set termination.grace_period_seconds by hand."
    ),
    types=(APP,),
    check=app_check(shutdown_problems),
)

POLICIES = [health_checks, graceful_shutdown]
