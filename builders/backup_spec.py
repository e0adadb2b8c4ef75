"""The backup worker of the App spec: every `backups.schedule` it streams `pg_dump` of n8n's database
through `age` (encrypted to the stack's public key) into the stack's Spaces bucket with `rclone`.

Pure, like app_spec. The dump and upload are one command, `BACKUP_COMMAND`, carried in the worker's env
so that the restore drill runs exactly what the worker runs (rehearsal/restore_drill.py), with the
same environment names; `RESTORE_COMMAND` is its inverse, used by the drill and by docs/backups.md.
"""

from __future__ import annotations

from platform_model import catalog
from platform_model.topology import DB_NAME, POSTGRES_BINDING
from settings.model import Settings

from .env import SecretValues, secret, var
from .env import _bind as bind  # the one spelling of App Platform's bindable variables
from .names import backup_bucket, backup_region

# `pipefail`: a pg_dump that fails half-way must fail the run, not upload a truncated dump. Custom format
# (-Fc) restores with pg_restore, object by object; no owner/ACL statements, so a restore into a cluster
# whose n8n user is someone else's works. The CA goes to a fresh temporary file (as the pre-deploy job).
BACKUP_COMMAND = (
    'set -euo pipefail; ca=$(mktemp); trap \'rm -f "$ca"\' EXIT; printf "%s" "$DB_CA_CERT" > "$ca"; '
    'name="$BACKUP_PREFIX/$(date -u +%Y-%m-%dT%H-%M-%SZ).pgdump.age"; '
    'PGSSLROOTCERT="$ca" pg_dump --format=custom --no-owner --no-privileges '
    '| age --encrypt --recipient "$BACKUP_AGE_RECIPIENT" '
    '| rclone rcat ":s3:$BACKUP_BUCKET/$name"; '
    'echo "backup written: $name"'
)
# The inverse, for one dump named by BACKUP_OBJECT, into the database libpq's PG* variables name; the age
# identity (private key) file is BACKUP_AGE_IDENTITY. `--clean --if-exists` replaces the tables a new
# stack's n8n already created by its migrations (n8n's user owns them), and is a no-op on an empty
# database. Exits non-zero when pg_restore reports any error.
RESTORE_COMMAND = (
    'set -euo pipefail; rclone cat ":s3:$BACKUP_BUCKET/$BACKUP_OBJECT" '
    '| age --decrypt --identity "$BACKUP_AGE_IDENTITY" '
    '| pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error --dbname "$PGDATABASE"'
)
BACKUP_PREFIX = "n8n-db"  # objects: n8n-db/<UTC time>.pgdump.age
# Install the tools from the image's own Debian archive, then dump, sleep, dump... A failed dump ends the
# loop and the container, so App Platform restarts it and the restart-count alert fires.
_RUN_COMMAND = (
    "bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "
    + " ".join(catalog.BACKUP_DEBIAN_PACKAGES)
    + ' && while bash -c "$BACKUP_COMMAND"; do sleep "$BACKUP_INTERVAL_SECONDS"; done; exit 1\''
)


def interval_seconds(schedule: str) -> int:
    return int(schedule.removesuffix("h")) * 3600


def backup_env(s: Settings, secrets: SecretValues) -> list[dict]:
    pg = POSTGRES_BINDING
    b = s.backups
    if b is None:
        raise ValueError("backup_env: the stack sets no `backups`")
    return [
        var("BACKUP_COMMAND", BACKUP_COMMAND),
        var("BACKUP_INTERVAL_SECONDS", str(interval_seconds(b.schedule))),
        var("BACKUP_PREFIX", BACKUP_PREFIX),
        var("BACKUP_AGE_RECIPIENT", b.recipient),
        var("BACKUP_BUCKET", backup_bucket(s)),
        # n8n's own user and database, over verified TLS: the database admits only this app.
        var("PGHOST", bind(pg, "HOSTNAME")),
        var("PGPORT", bind(pg, "PORT")),
        var("PGDATABASE", DB_NAME),
        var("PGUSER", bind(pg, "USERNAME")),
        secret("PGPASSWORD", bind(pg, "PASSWORD")),
        var("PGSSLMODE", "verify-full"),
        var("DB_CA_CERT", bind(pg, "CA_CERT")),
        # rclone's on-the-fly `:s3:` remote reads its options from RCLONE_S3_* variables. The key may write
        # only to this bucket, so rclone must not try to create it.
        var("RCLONE_S3_PROVIDER", "DigitalOcean"),
        var("RCLONE_S3_ENDPOINT", catalog.spaces_endpoint(backup_region(s))),
        var("RCLONE_S3_NO_CHECK_BUCKET", "true"),
        secret("RCLONE_S3_ACCESS_KEY_ID", secrets.backup_access_key),
        secret("RCLONE_S3_SECRET_ACCESS_KEY", secrets.backup_secret_key),
    ]


def backup_worker(s: Settings, secrets: SecretValues, image: dict, alerts: list[dict]) -> dict:
    """The worker; `image` is the postgres image of the cluster's version (catalog.backup_image_tag)."""
    return {
        "name": catalog.BACKUP_COMPONENT,
        "image": image,
        "instance_size_slug": catalog.BACKUP_WORKER_SIZE,
        "instance_count": 1,
        "run_command": _RUN_COMMAND,
        "envs": backup_env(s, secrets),
        "alerts": alerts,
    }
