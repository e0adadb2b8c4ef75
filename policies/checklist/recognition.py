"""Every other rule depends on this one: the pack must know which components run n8n and which run its
runner launcher, or the checklist silently skips them.

A component is recognised by what it runs and how it is configured (policies/platform_model/roles.py): its
run_command, n8n's and the launcher's env vars, n8n's ports, and the image only as one sign among others —
so a GHCR image, a mirror in the team's registry or a custom build with community nodes is checked like
n8nio/n8n. A component with any sign of n8n that cannot be classified is a violation that says what
stops it and how to fix it: the pack fails closed.

Unknown values: an unknown run_command (or env list, see resources.app_spec) is a violation.
"""

from __future__ import annotations

from pulumi_policy import Severity

from platform_model.catalog import APP
from platform_model.roles import UNRECOGNISED
from platform_model.spec_reader import AppSpec

from .resources import app_check, resource_policy


def recognition_problems(spec: AppSpec, _args) -> list[str]:
    return [c.recognition.problem(c.name) for c in spec.components() if c.role == UNRECOGNISED]


n8n_components_recognised = resource_policy(
    name="n8n-components-recognised",
    description=("Every component that shows a sign of n8n (its command, settings, ports or image) is recognised "
                 "as main, a worker, a webhook processor, a runner pool or a one-shot n8n job."),
    severity=Severity.HIGH,
    remediation=(
        "Give every n8n component an explicit run_command the pack can read — `n8n start`, `n8n worker`, "
        "`n8n webhook` (also behind tini, node or /docker-entrypoint.sh) — and runner pools n8n's runners image "
        "or `task-runner-launcher javascript`. Keep n8n's settings in envs, not on the command line or in a shell "
        "script, and off components that are not n8n."
    ),
    types=(APP,),
    check=app_check(recognition_problems),
)

POLICIES = [n8n_components_recognised]
