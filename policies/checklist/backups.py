"""Checklist: backups that survive the loss of the database cluster (docs/backups.md).

DigitalOcean's own backups live and die with the cluster and the account's access to it. This policy
asks for a copy outside it: an App component that dumps n8n's database, encrypted to an age public key,
into a Spaces bucket of this stack that keeps old versions and expires dumps on a schedule. Staging may
downgrade it (policies/config/staging.json).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from platform_model import catalog
from platform_model.catalog import SPACES_BUCKET
from platform_model.spec_fields import is_unknown, number

from .resources import Stack, stack_policy

# The backup worker's env (builders/backup_spec.py): the bucket it writes to and whom it encrypts for.
BUCKET_ENV, RECIPIENT_ENV = "BACKUP_BUCKET", "BACKUP_AGE_RECIPIENT"


def _retention_days(props: dict) -> Any:
    for rule in props.get("lifecycleRules") or []:
        days = (rule.get("expiration") or {}).get("days")
        if rule.get("enabled") is True and number(days):
            return days
    return None


def _bucket_problem(props: dict) -> str:
    if (props.get("versioning") or {}).get("enabled") is not True:
        return "keeps no versions (versioning.enabled), so a leaked key can overwrite or delete every dump"
    if _retention_days(props) is None:
        return "has no enabled lifecycle rule that expires dumps, so retention is unbounded and unpriced"
    if props.get("acl") not in (None, "private"):
        return f"is {props.get('acl')!r}, not private"
    return ""


def backup_problems(stack: Stack) -> Iterator[tuple[str, str]]:
    buckets = {stack.props(b).get("name"): b for b in stack.of_type(SPACES_BUCKET)}
    for app, spec, problems in stack.apps():
        if spec is None:
            yield app.urn, f"cannot check backups: {'; '.join(problems)}"
            continue
        dumpers = [c for c in spec.components() if c.value(BUCKET_ENV) is not None]
        if not dumpers:
            yield app.urn, (f"{app.name} has no backup component: nothing copies n8n's database out of the "
                            "cluster, so losing the cluster (or the account's access to it) loses every "
                            "workflow and credential")
            continue
        for c in dumpers:
            bucket, recipient = c.value(BUCKET_ENV), c.value(RECIPIENT_ENV)
            if is_unknown(recipient) or not str(recipient or "").startswith("age1"):
                yield app.urn, f"{c.name}: {RECIPIENT_ENV} is not an age public key, so its dumps are not encrypted"
            if is_unknown(bucket) or bucket not in buckets:
                yield app.urn, (f"{c.name} writes to bucket {bucket!r}, which this stack does not create: its "
                                "versioning and expiry cannot be shown")
                continue
            problem = _bucket_problem(stack.props(buckets[bucket]))
            if problem:
                yield buckets[bucket].urn, f"backup bucket {bucket} {problem}"


off_cluster_backups = stack_policy(
    name="off-cluster-backups",
    description=("n8n's database is dumped on a schedule, encrypted to an age public key, into a private, "
                 "versioned Spaces bucket of the stack with a lifecycle expiry."),
    severity=Severity.HIGH,
    remediation=(
        "Set `backups: {recipient: <age public key>}` in the stack file (docs/backups.md); the program then "
        f"adds the {catalog.BACKUP_COMPONENT} worker and its bucket. Staging may downgrade this policy to "
        "advisory (policies/config/staging.json)."
    ),
    check=backup_problems,
)

POLICIES = [off_cluster_backups]
