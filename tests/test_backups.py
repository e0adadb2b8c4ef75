"""Backups, restore and disaster recovery as the program registers them (under Pulumi's mocks), and the
bucket reader `rehearsal.verify --backups` uses, against a real local S3 server."""

import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from builders.backup_spec import BACKUP_COMMAND, BACKUP_PREFIX, RESTORE_COMMAND
from builders.env import DB_GRANTS_SQL
from platform_model import catalog
from platform_model.topology import DB_NAME, DB_USER
from rehearsal.backup_store import LocalS3, dumps, newest_backup_check
from rehearsal.pki import LOOPBACK_HOST, make_pki
from rehearsal.restore_drill import make_age_key
from rehearsal.services import free_ports, start_postgres
from settings.model import SettingsError
from stack.loader import load_settings
from stackrun import app_spec, component, env_entry, env_of, run_stack, stack_config

BUCKET, KEY, REPLICA, CLUSTER = catalog.SPACES_BUCKET, catalog.SPACES_KEY, catalog.REPLICA, catalog.CLUSTER
KEY_OF_SOURCE = "q7Xv2LmR9tKp4WzN8cYb3HfJ6sDg1AeU5oPiVk0nQyTx"


def postgres_cluster(run):
    return next(r for r in run.of_type(CLUSTER) if r.inputs["engine"] == catalog.POSTGRES.cluster)


def test_the_bucket_keeps_versions_expires_dumps_and_is_protected(prod):
    bucket = prod.one(BUCKET)
    days = stack_config("prod")["n8n-platform:backups"]["retentionDays"]
    assert bucket.inputs["name"] == "n8n-prod-backups" and bucket.inputs["acl"] == "private"
    assert bucket.inputs["versioning"] == {"enabled": True} and bucket.inputs["forceDestroy"] is False
    [rule] = bucket.inputs["lifecycleRules"]
    assert rule["enabled"] and rule["expiration"] == {"days": days}
    assert rule["noncurrentVersionExpiration"] == {"days": days}, "a deleted dump must stay recoverable as long"
    assert bucket.protect


def test_the_worker_may_write_only_to_its_bucket_and_the_verifier_only_read(prod):
    grants = {k.name: k.inputs["grants"] for k in prod.of_type(KEY)}
    assert grants == {"n8n-backups-writer": [{"bucket": "n8n-prod-backups", "permission": "readwrite"}],
                      "n8n-backups-reader": [{"bucket": "n8n-prod-backups", "permission": "read"}]}
    assert "backup_reader" in prod.secret_outputs


def test_the_backup_worker_dumps_the_clusters_own_major_version_encrypted_to_the_recipient(prod):
    worker = component(app_spec(prod), catalog.BACKUP_COMPONENT)
    env = env_of(worker)
    config = stack_config("prod")
    assert worker["image"]["repository"] == "postgres" and worker["image"]["tag"] == "17-bookworm"
    assert env["BACKUP_AGE_RECIPIENT"] == config["n8n-platform:backups"]["recipient"]
    assert env["BACKUP_INTERVAL_SECONDS"] == str(6 * 3600) and env["BACKUP_BUCKET"] == "n8n-prod-backups"
    assert env["PGSSLMODE"] == "verify-full" and env["RCLONE_S3_ENDPOINT"] == "ams3.digitaloceanspaces.com"
    for secret in ("RCLONE_S3_ACCESS_KEY_ID", "RCLONE_S3_SECRET_ACCESS_KEY", "PGPASSWORD"):
        assert env_entry(worker, secret)["type"] == "SECRET"
    assert "pg_dump" in env["BACKUP_COMMAND"] and "pipefail" in env["BACKUP_COMMAND"]


def test_restore_from_forks_the_source_at_the_time_given(prod):
    run = run_stack("prod", {"encryptionKey": KEY_OF_SOURCE,
                             "postgres": {"restoreFrom": {"cluster": "n8n-old-pg", "time": "2026-11-27T03:00:00Z"}}})
    assert postgres_cluster(run).inputs["backupRestore"] == {"databaseName": "n8n-old-pg",
                                                             "backupCreatedAt": "2026-11-27T03:00:00Z"}
    latest = run_stack("prod", {"encryptionKey": KEY_OF_SOURCE, "postgres": {"restoreFrom": {"cluster": "n8n-old-pg"}}})
    assert postgres_cluster(latest).inputs["backupRestore"] == {"databaseName": "n8n-old-pg"}
    assert "backupRestore" not in postgres_cluster(prod).inputs


def test_a_restore_without_the_sources_key_is_refused_before_anything_is_created():
    config = stack_config("prod", {"postgres": {"restoreFrom": {"cluster": "n8n-old-pg"}}})
    with pytest.raises(SettingsError) as err:
        load_settings(config, "prod")
    assert "postgres.restoreFrom: restores credentials that only the source stack's key can read" in str(err.value)
    assert "pulumi config set --secret encryptionKey" in str(err.value)


def test_the_replica_lives_in_another_region_protected_and_is_priced(prod):
    run = run_stack("prod", {"postgres": {"replica": {"region": "fra1"}}})
    replica = run.one(REPLICA)
    assert replica.inputs["region"] == "fra1" and replica.inputs["size"] == "db-s-2vcpu-4gb" and replica.protect
    assert "privateNetworkUuid" not in replica.inputs, "a VPC never spans datacenters"
    assert run.outputs["monthly_cost"]["max"] == prod.outputs["monthly_cost"]["max"] + 60
    with pytest.raises(SettingsError, match=r"postgres\.replica\.region: is the stack's own region"):
        load_settings(stack_config("prod", {"postgres": {"replica": {"region": "ams3"}}}), "prod")


# --- the bucket reader, against a real S3 server ------------------------------------------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = LocalS3(tmp_path_factory.mktemp("s3"))
    server.create_bucket("drill-backups")
    yield server
    server.stop()


def test_the_newest_backups_age_is_reported_and_judged(s3):
    empty = newest_backup_check(s3.env, "drill-backups", 24)
    assert not empty.ok and "holds no dump" in empty.detail
    for name in ("2026-11-27T03-00-00Z", "2026-11-28T03-00-00Z"):
        upload = f"head -c 3000 /dev/urandom | rclone rcat :s3:drill-backups/n8n-db/{name}.pgdump.age"
        subprocess.run(["bash", "-c", upload],
                       env={"PATH": "/usr/bin:/bin", **s3.env}, check=True)
    found = dumps(s3.env, "drill-backups")
    assert [d.size for d in found] == [3000, 3000]
    fresh = newest_backup_check(s3.env, "drill-backups", 24)
    assert fresh.ok and found[-1].name in fresh.detail and "3,000 bytes" in fresh.detail and "2 dump(s)" in fresh.detail
    stale = newest_backup_check(s3.env, "drill-backups", 24, now=datetime.now(UTC) + timedelta(hours=30))
    assert not stale.ok and "30.0 h old" in stale.detail


def test_wrong_credentials_fail_naming_the_bucket(s3):
    env = {**s3.env, "RCLONE_S3_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens there
    check = newest_backup_check(env, "drill-backups", 24)
    assert not check.ok and "cannot list bucket drill-backups" in check.detail


# --- the worker's own commands: dump -> age -> S3 -> age -> restore, on real PostgreSQL ----------------


def _fresh_postgres(directory, pki):
    pg = start_postgres(directory, pki, free_ports(1)[0])
    pg.superuser_sql(DB_GRANTS_SQL, DB_NAME)  # what the pre-deploy job does before anything else
    return pg


def _libpq(pg, pki) -> dict:
    return {"PGHOST": LOOPBACK_HOST, "PGPORT": str(pg.port), "PGDATABASE": DB_NAME, "PGUSER": DB_USER,
            "PGPASSWORD": pg.n8n_password, "PGSSLMODE": "verify-full"}


def _bash(command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def run_dir():
    # PostgreSQL runs as its own user and must reach its directory (as the rehearsal's run directory).
    path = Path(tempfile.mkdtemp(prefix="n8n-backup-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_dump_taken_by_the_workers_command_restores_only_with_the_age_key(run_dir, s3):
    tmp_path = run_dir
    pki = make_pki(tmp_path / "pki")
    identity, recipient = make_age_key(tmp_path)
    source = _fresh_postgres(tmp_path / "source", pki)
    try:
        seed = ("CREATE TABLE workflow_entity (id text PRIMARY KEY, name text); "
                "INSERT INTO workflow_entity SELECT 'wf' || i, 'workflow ' || i || ' ' || md5(i::text) "
                "FROM generate_series(1, 20000) i;")  # a dump beyond rclone's 100 KiB single-upload cutoff
        psql = f'PGSSLROOTCERT="{pki.ca_cert}" psql -v ON_ERROR_STOP=1 -c "{seed}"'
        assert _bash(psql, _libpq(source, pki)).returncode == 0
        worker = {**_libpq(source, pki), **s3.env, "DB_CA_CERT": pki.ca_pem, "BACKUP_PREFIX": BACKUP_PREFIX,
                  "BACKUP_AGE_RECIPIENT": recipient, "BACKUP_BUCKET": "drill-backups"}
        done = _bash(BACKUP_COMMAND, worker)
        assert done.returncode == 0 and "backup written: n8n-db/" in done.stdout, done.stderr
    finally:
        source.stop()
    name = done.stdout.split("backup written: ")[1].strip()
    encrypted = _bash(f'rclone cat ":s3:drill-backups/{name}" | head -c 22', s3.env).stdout
    assert encrypted == "age-encryption.org/v1\n", "the object in the bucket is an age file"

    target = _fresh_postgres(tmp_path / "target", pki)
    try:
        restore = {**_libpq(target, pki), **s3.env, "PGSSLROOTCERT": str(pki.ca_cert), "BACKUP_BUCKET": "drill-backups",
                   "BACKUP_OBJECT": name}
        (tmp_path / "other").mkdir()
        other, _ = make_age_key(tmp_path / "other")
        refused = _bash(RESTORE_COMMAND, {**restore, "BACKUP_AGE_IDENTITY": str(other)})
        assert refused.returncode != 0 and "no identity matched" in refused.stderr
        restored = _bash(RESTORE_COMMAND, {**restore, "BACKUP_AGE_IDENTITY": str(identity)})
        assert restored.returncode == 0, restored.stderr
        count = target.superuser_sql("SELECT count(*), min(name) FROM workflow_entity", DB_NAME)
        assert count.startswith("20000|workflow 1 ")
        # Over a database n8n already wrote to (a new stack's migrations ran first): replaced, not doubled.
        target.superuser_sql("INSERT INTO workflow_entity VALUES ('extra', 'written after the backup')", DB_NAME)
        again = _bash(RESTORE_COMMAND, {**restore, "BACKUP_AGE_IDENTITY": str(identity)})
        assert again.returncode == 0, again.stderr
        assert target.superuser_sql("SELECT count(*) FROM workflow_entity", DB_NAME) == "20000"
    finally:
        target.stop()
