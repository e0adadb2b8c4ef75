"""Checklist: Code nodes run in sandboxed runners for every n8n process that executes workflows.

A task broker hands a Code-node task only to runners connected to *that* process, and
`http://<service>:5679` is one address for every instance of a service (README.md, "Why worker pairs").
So every broker runs external-mode runners (`n8nio/runners`, outside the n8n container), and every
runner pool points at a broker service that runs exactly one instance. The runners image must be the
same release as n8n; a floating tag (`latest`) changes both without a review.

Unknown values: a broker URI, runner mode, instance count or image tag that is unknown at preview is a
violation: these are literals in this program, and the rules cannot be shown without them.
"""

from __future__ import annotations

import re

from pulumi_policy import EnforcementLevel, Severity

from components import catalog
from components.capacity import runner_warnings_from_app_spec

from .resources import APP, AppSpec, Component, app_check, broker_address, is_unknown, number, resource_policy

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
            problems.append(f"{pool.name} points at {host!r}, which is no n8n service of this app")
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
    for broker, pools in served.items():
        if not pools:
            problems.append(f"{broker} executes workflows but no runner pool points at it; its Code nodes "
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
        "main its own pool (components/topology.py)."
    ),
    types=(APP,),
    check=app_check(topology_problems),
)


# --- pinned images -------------------------------------------------------------------------------

FLOATING_TAGS = frozenset({"latest", "stable", "next", "beta", "nightly", "edge", "master", "main"})
RELEASE = re.compile(r"\d+\.\d+\.\d+")


def image_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    n8n_tags: dict[str, str] = {}
    for component in spec.components():
        image = component.data.get("image")
        if not isinstance(image, dict):
            if is_unknown(image):
                problems.append(f"{component.name}: its image is not known at preview")
            continue
        tag, digest = image.get("tag"), image.get("digest")
        if digest and not is_unknown(digest):
            continue
        if is_unknown(tag):
            problems.append(f"{component.name}: its image tag is not known at preview")
        elif not tag:
            problems.append(f"{component.name}: {image.get('repository')} has no tag, so App Platform pulls "
                            "`latest`; pin a release")
        elif str(tag).lower() in FLOATING_TAGS:
            problems.append(f"{component.name}: {image.get('repository')}:{tag} is a floating tag; pin a release")
        elif (component.is_n8n or component.is_runner_pool) and not RELEASE.fullmatch(str(tag)):
            problems.append(f"{component.name}: {image.get('repository')}:{tag} is not an exact n8n release "
                            "(like 2.41.1)")
        elif component.is_n8n or component.is_runner_pool:
            n8n_tags[component.name] = str(tag)
    if len(set(n8n_tags.values())) > 1:
        listed = ", ".join(f"{name} {tag}" for name, tag in sorted(n8n_tags.items()))
        problems.append(f"n8n and its runners run different releases ({listed}); the runners image tag must "
                        "equal the n8n image tag")
    return problems


image_pinning = resource_policy(
    name="image-pinning",
    description="Every image is pinned; n8nio/runners runs exactly the n8n release of n8nio/n8n.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set `n8n.version` to an exact release (e.g. 2.41.1); the program uses it as the tag of both "
        "n8nio/n8n and n8nio/runners. Never use `latest` or another floating tag."
    ),
    types=(APP,),
    check=app_check(image_problems),
)



# --- runner capacity -----------------------------------------------------------------------------


def capacity_problems(spec: AppSpec, _args) -> list[str]:
    # The arithmetic (runner instances × N8N_RUNNERS_MAX_CONCURRENCY against the worker's
    # N8N_CONCURRENCY_PRODUCTION_LIMIT) is components/capacity.py's, shared with the settings report.
    return runner_warnings_from_app_spec(spec.data)


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

POLICIES = [runner_topology, image_pinning, runner_capacity]
