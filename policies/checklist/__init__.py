"""The production checklist as CrossGuard policies, one module per checklist area; `policies/__main__.py`
assembles the pack from `POLICIES`. The modules import only `platform_model`, pulumi, pulumi_policy and the
standard library, and can be imported without starting the pack's gRPC server (the tests call the
policies in-process through this list)."""

from pulumi_policy import EnforcementLevel

from checklist import (
    access,
    backups,
    configuration,
    cost_budget,
    databases,
    health,
    images,
    keys,
    monitoring,
    observability,
    protection,
    recognition,
    runners,
    scaling,
)

# A policy that names no level of its own gets the pack's.
ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY
# The pack's order: the order in which the pack runs its policies, and so the order of its verdicts.
POLICIES = [*recognition.POLICIES, *keys.POLICIES, *databases.POLICIES, *access.POLICIES, *runners.POLICIES,
            *images.POLICIES, *scaling.POLICIES, *health.POLICIES, *monitoring.POLICIES, *protection.POLICIES,
            *backups.POLICIES, *configuration.POLICIES, *cost_budget.POLICIES, *observability.POLICIES]
