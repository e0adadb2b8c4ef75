"""Checklist: Code nodes run in sandboxed runners for every n8n process that executes workflows.

A task broker hands a Code-node task only to runners connected to *that* process, and
`http://<service>:5679` is one address for every instance of an App Platform service. So every broker
runs external-mode runners (the runner launcher, outside the n8n container), and every runner pool points
at a broker service that runs exactly one instance. Which components are brokers and runner pools is
decided by what they run (policies/platform_model/roles.py); the images they run are images.py's concern.

Unknown values: a broker URI, runner mode or instance count that is unknown at preview is a violation:
these are literals in this program, and the rules cannot be shown without them.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from platform_model import catalog
from platform_model.capacity import runner_warnings
from platform_model.catalog import APP
from platform_model.deployment import from_app_spec
from platform_model.roles import UNRECOGNISED
from platform_model.spec_fields import is_unknown, number
from platform_model.spec_reader import AppSpec, Component, broker_address

from .resources import app_check, resource_policy

BROKER_URI = "N8N_RUNNERS_TASK_BROKER_URI"


def _single_instance_problem(broker: Component) -> str | None:
    if broker.autoscaling is not None:
        return (f"{broker.name} autoscales; a runner pool can only serve a broker with exactly one instance "
                "(the other instances' Code nodes would time out). Scale with more worker pairs")
    count = broker.data.get("instanceCount")
    if is_unknown(count):
        return f"{broker.name}: instanceCount is not known at preview; a broker must run exactly one instance"
    if count is not None and number(count) != 1:
        return (f"{broker.name} runs {number(count):.0f} instances; a runner pool can only serve a broker with "
                "exactly one instance. Scale with more worker pairs")
    return None


def topology_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    processes = {c.name: c for c in spec.n8n_processes()}
    unrecognised = {c.name for c in spec.components() if c.role == UNRECOGNISED}
    brokers = spec.brokers()
    served: dict[str, list[str]] = {b.name: [] for b in brokers}
    for broker in brokers:
        mode = broker.value("N8N_RUNNERS_MODE")
        if mode != "external":
            shown = "not known at preview" if is_unknown(mode) else repr(mode or "internal")
            problems.append(f"{broker.name} executes workflows with N8N_RUNNERS_MODE {shown}: Code nodes would "
                            "run inside the n8n container, not in a sandboxed runner; set it to external")
    for pool in spec.runner_pools():
        uri = pool.value(BROKER_URI)
        host, port = broker_address(uri)
        if host is None:
            shown = "is not known at preview" if is_unknown(uri) else f"is {uri!r}" if uri else "is not set"
            problems.append(f"{pool.name}: {BROKER_URI} {shown}; it must be http://<broker>:{catalog.BROKER_PORT}")
            continue
        target = processes.get(host)
        if target is None:
            what = ("the pack cannot recognise as n8n (see n8n-components-recognised)" if host in unrecognised
                    else "is no n8n service of this app")
            problems.append(f"{pool.name} points at {host!r}, which {what}")
            continue
        if port != catalog.BROKER_PORT:
            problems.append(f"{pool.name} points at port {port} of {host}; brokers listen on {catalog.BROKER_PORT}")
        if target.name not in served:
            problems.append(f"{pool.name} points at {host}, which starts no task broker (it executes no "
                            "workflows)")
            continue
        served[target.name].append(pool.name)
        if target.kind != "services" or catalog.BROKER_PORT not in [number(p) for p in
                                                                    target.data.get("internalPorts") or []]:
            problems.append(f"{host} does not expose the broker port {catalog.BROKER_PORT} in internal_ports, "
                            f"so {pool.name} cannot reach it")
        single = _single_instance_problem(target)
        if single:
            problems.append(single)
    for broker_name, pools in served.items():
        if not pools:
            problems.append(f"{broker_name} executes workflows but no runner pool points at it; its Code nodes "
                            "would wait for a runner until they time out")
    return problems


runner_topology = resource_policy(
    name="runner-topology",
    description=("Every n8n process that executes workflows runs Code nodes in external runners, and every "
                 "runner pool serves a broker service with exactly one instance."),
    severity=Severity.HIGH,
    remediation=(
        "Scale with worker pairs (`workers.pairs`): each `n8n worker` service runs one instance with "
        "N8N_RUNNERS_MODE=external and internal port 5679, and its own runner pool points at "
        "http://<worker>:5679. Never autoscale a broker. Keep manual executions offloaded to workers, or give "
        "main its own pool (policies/platform_model/topology.py)."
    ),
    types=(APP,),
    check=app_check(topology_problems),
)


# --- runner capacity -----------------------------------------------------------------------------


def capacity_problems(spec: AppSpec, _args) -> list[str]:
    # The arithmetic (runner instances × N8N_RUNNERS_MAX_CONCURRENCY against the worker's
    # N8N_CONCURRENCY_PRODUCTION_LIMIT) is policies/platform_model/capacity.py's, shared with the settings report.
    return runner_warnings(from_app_spec(spec.data))


runner_capacity = resource_policy(
    name="runner-capacity",
    description=("Each worker's runner pool can take as many Code-node tasks at once as the worker runs "
                 "executions, so Code nodes do not wait for a runner."),
    severity=Severity.LOW,
    remediation=(
        "Raise `runners.instances` (or `runners.autoscaling.maxInstances`) or `runners.maxConcurrency` until "
        "instances × maxConcurrency covers `workers.concurrency`. A task no runner accepts fails after 60 s."
    ),
    types=(APP,),
    check=app_check(capacity_problems),
    level=EnforcementLevel.ADVISORY,  # a stack with few Code nodes may run fewer slots on purpose
)

POLICIES = [runner_topology, runner_capacity]
