"""Stateful resources stay protected (checklist: backups, strong encryption key).

Deleting or replacing a database cluster or the `n8n` database loses every workflow, execution and
credential; replacing the generated encryption key makes every stored credential unreadable. Pulumi's
`protect` makes `pulumi up` refuse both. Protection is an option, not a property, so it is always known
at preview.
"""

from __future__ import annotations

from pulumi_policy import Severity

from platform_model import catalog
from platform_model.catalog import CLUSTER, DATABASE_DB, RANDOM_PASSWORD
from platform_model.topology import ENCRYPTION_KEY_RESOURCE_SUFFIX

from .resources import resource_policy


def _loss(props: dict, resource_type: str) -> str:
    if resource_type == RANDOM_PASSWORD:
        return "replacing it makes every credential stored in n8n unreadable"
    if resource_type == DATABASE_DB:
        return "deleting it drops n8n's database with every workflow and credential"
    if props.get("engine") == catalog.POSTGRES.cluster:
        return "deleting or replacing it loses every workflow, execution and credential"
    return "deleting or replacing it loses every queued execution"


def protection_problems(props: dict, args) -> list[str]:
    if args.resource_type == RANDOM_PASSWORD and not args.name.endswith(ENCRYPTION_KEY_RESOURCE_SUFFIX):
        return []  # runner tokens are rotatable
    if args.opts.protect:
        return []
    return [f"{args.name} is not protected: {_loss(props, args.resource_type)}"]


stateful_resources_protected = resource_policy(
    name="stateful-resources-protected",
    description="Database clusters, n8n's database and the generated encryption key are `protect`ed.",
    severity=Severity.HIGH,
    remediation=(
        "Keep `protect: true` in production stacks (the default); the program passes it to the clusters, the "
        "`n8n` database and the generated encryption key. To delete one on purpose: "
        "`pulumi state unprotect <urn>`. Staging may downgrade this policy to advisory."
    ),
    types=(CLUSTER, DATABASE_DB, RANDOM_PASSWORD),
    check=protection_problems,
)

POLICIES = [stateful_resources_protected]
