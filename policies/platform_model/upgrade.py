"""Moving a deployment from one n8n release to another: what is refused, what guards the database, and
the way back.

What this rests on (n8n 2.41.1's compiled source, node_modules/n8n and @n8n/db, read 2026-11-28):
  * Every n8n process (main, worker, webhook processor, any CLI command) applies the migrations its
    release knows and the database lacks when it starts, under a PostgreSQL advisory lock.
  * An older n8n does not refuse a database a newer one migrated: it only looks for its own migrations
    and runs on a schema it was not written for. `n8n db:revert` undoes one migration per run, needs
    the newer release, and 51 of 2.41.1's 281 migrations cannot be undone. So the way back from an
    upgrade is a restore of the database taken before it, with the old release pinned.
  * The leader main records each release it starts as in the table `instance_version_history`
    (module instance-version-history, "Recorded version change: A -> B"; table created by migration
    CreateInstanceVersionHistoryTable1774854660000). The pre-deploy job reads it (downgrade_guard_sql).
  * No n8n release note or doc found requires upgrading one major at a time; what n8n ships for a major
    is an in-app report (Settings > Migration Report for 3.0, the 2.0 breaking-changes report) that a
    person must read. So a jump to a new major needs `upgrade.acknowledgeMajor` set to that major.

Stdlib only: the policy pack, the offline tools and the deploy workflow import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION_TABLE = "instance_version_history"
RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
# The spelling the restore point's time is recorded in: what DigitalOcean's point-in-time restore takes.
RESTORE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def release(version: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a pinned release such as 2.41.1; ValueError for anything else."""
    match = RELEASE.fullmatch(version.strip())
    if not match:
        raise ValueError(f"{version!r} is not a pinned n8n release like 2.41.1")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def downgrade_guard_sql(version: str) -> str:
    """SQL that fails (and with it the pre-deploy job, so App Platform stops the deployment before any
    n8n process of `version` starts) when the database was last run by a newer n8n. A database n8n
    never ran on, or one from before the table existed, passes."""
    major, minor, patch = release(version)
    newer = (f"SELECT format('%s.%s.%s', major, minor, patch) FROM {VERSION_TABLE} "
             f"WHERE (major, minor, patch) > ({major}, {minor}, {patch}) "
             "ORDER BY major DESC, minor DESC, patch DESC LIMIT 1")
    return (
        "DO $guard$ DECLARE newer text; BEGIN "
        f"IF to_regclass('{VERSION_TABLE}') IS NOT NULL THEN EXECUTE {_quoted(newer)} INTO newer; END IF; "
        "IF newer IS NOT NULL THEN RAISE EXCEPTION "
        f"'n8n downgrade refused: this database was migrated by n8n % and this deployment runs n8n {version}, "
        "which would start on a schema it does not know. Deploy n8n % or newer, or restore the restore point "
        "taken before the upgrade with the old version pinned (docs/upgrades.md)', newer, newer; "
        "END IF; END $guard$;"
    )


def _quoted(sql: str) -> str:
    return "'" + sql.replace("'", "''") + "'"


@dataclass(frozen=True)
class VersionChange:
    deployed: str | None  # None: nothing deployed yet (a new stack, or a restore into one)
    target: str

    @property
    def changes(self) -> bool:
        return self.deployed is not None and self.deployed != self.target

    @property
    def is_downgrade(self) -> bool:
        return self.deployed is not None and self.changes and release(self.target) < release(self.deployed)

    @property
    def crosses_major(self) -> bool:
        return self.deployed is not None and self.changes and release(self.target)[0] > release(self.deployed)[0]

    def problems(self, acknowledged_major: int | None, stack_file: str) -> list[str]:
        """Why this change must not be deployed as it is written (empty: it may)."""
        if self.is_downgrade:
            return [f"n8n.version {self.target} in {stack_file} is older than the deployed {self.deployed}: n8n "
                    "cannot run on a database a newer release migrated, and the pre-deploy job would refuse it. "
                    "To go back, restore the restore point taken before the upgrade into a new stack with "
                    f"n8n.version {self.target} pinned (docs/upgrades.md § The way back)"]
        target_major = release(self.target)[0]
        if self.crosses_major and acknowledged_major != target_major:
            written = "not set" if acknowledged_major is None else f"{acknowledged_major}"
            assert self.deployed is not None  # crosses_major implies a deployed release
            return [f"n8n.version {self.target} in {stack_file} moves n8n from major {release(self.deployed)[0]} to "
                    f"{target_major}, and upgrade.acknowledgeMajor is {written}: read n8n's migration report for "
                    f"{target_major}.0 in the running editor (Settings > Migration Report), fix what it lists, "
                    f"then set upgrade.acknowledgeMajor: {target_major}"]
        return []


def restore_command(stack: str, cluster: str, restore_time: str, version: str) -> str:
    """The shell commands that bring a copy of `stack` back on its restore point (a new stack named
    `<stack>-restored`: point-in-time restore makes a new cluster, and the old one is kept until the
    copy is verified)."""
    new = f"{stack}-restored"
    return "\n".join([
        f"pulumi stack init {new} --copy-config-from {stack}",
        f"pulumi config set --stack {new} --path 'n8n-platform:postgres.restoreFrom.cluster' {cluster}",
        f"pulumi config set --stack {new} --path 'n8n-platform:postgres.restoreFrom.time' {restore_time}",
        f"pulumi config set --stack {new} --path 'n8n-platform:n8n.version' {version}",
        # The copy must decrypt the credentials in the restored database: same key, generated or set.
        f"pulumi config set --stack {new} --secret n8n-platform:encryptionKey "
        f"\"$(pulumi stack output --stack {stack} --show-secrets encryption_key)\"",
        f"pulumi up --stack {new}",
    ])
