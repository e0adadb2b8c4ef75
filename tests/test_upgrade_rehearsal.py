"""The upgrade on real software: the pre-deploy job's downgrade guard against real PostgreSQL, and the
whole upgrade rehearsal (catalog.PREVIOUS_N8N_RELEASE -> the prod stack's n8n.version) on real n8n.

Marked `rehearsal` (see test_rehearsal.py): it needs PostgreSQL, Redis and both n8n releases in the
cache (`python -m rehearsal.install prod --previous`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from offline.render import offline_spec
from platform_model import catalog
from platform_model.topology import DB_NAME, DB_USER
from rehearsal.deployment import JOB, substitutions_for
from rehearsal.install import N8nInstall
from rehearsal.pki import make_pki
from rehearsal.services import free_ports, start_postgres
from rehearsal.upgrade import fingerprint, plan
from stack.loader import load_settings
from stackrun import stack_config

pytestmark = pytest.mark.rehearsal
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def postgres():
    # Under /tmp, where PostgreSQL's user can reach it (pytest's tmp_path is not).
    run_dir = Path(tempfile.mkdtemp(prefix="n8n-platform-guard-test-"))
    run_dir.chmod(0o711)
    pki = make_pki(run_dir / "pki")
    pg = start_postgres(run_dir / "pg", pki, free_ports(1)[0])
    yield pg, pki
    pg.stop()
    shutil.rmtree(run_dir, ignore_errors=True)


def run_job(tmp_path, pg, pki, version: str) -> tuple[int, str]:
    s = load_settings(stack_config("prod", {"n8n": {"version": version}}), "prod")
    subs = substitutions_for(pg, _NoRedis(), pki)  # type: ignore[arg-type]  # the job never reaches Redis
    d = plan(tmp_path / f"job-{version}", N8nInstall(tmp_path, version), pki, offline_spec(s), subs)
    [job] = d.of_role(JOB)
    return d.run_job(job)


class _NoRedis:
    def bindings(self) -> dict:
        return {"HOSTNAME": "localhost", "PORT": "1", "USERNAME": "default", "PASSWORD": "unused"}


def record(pg, *versions: str) -> None:
    pg.superuser_sql("CREATE TABLE instance_version_history (id serial PRIMARY KEY, major int NOT NULL, "
                     "minor int NOT NULL, patch int NOT NULL, \"createdAt\" timestamptz DEFAULT now())", DB_NAME)
    pg.superuser_sql(f"ALTER TABLE instance_version_history OWNER TO {DB_USER}", DB_NAME)  # n8n creates it
    for v in versions:
        pg.superuser_sql(f"INSERT INTO instance_version_history (major, minor, patch) VALUES "
                         f"({', '.join(v.split('.'))})", DB_NAME)


def n8n_may_create_tables(pg) -> bool:
    return pg.superuser_sql(f"SELECT has_schema_privilege('{DB_USER}', 'public', 'CREATE')", DB_NAME) == "t"


def test_a_database_n8n_never_ran_on_passes_the_guard_and_gets_its_grants(tmp_path, postgres):
    pg, pki = postgres
    code, output = run_job(tmp_path, pg, pki, "2.41.1")
    assert code == 0, output
    assert n8n_may_create_tables(pg)


def test_an_upgrade_and_a_redeploy_pass_the_guard(tmp_path, postgres):
    pg, pki = postgres
    record(pg, "2.40.7", "2.41.1")
    assert run_job(tmp_path, pg, pki, "2.41.1")[0] == 0
    assert run_job(tmp_path, pg, pki, "2.42.0")[0] == 0


def test_a_downgrade_fails_the_job_and_changes_nothing(tmp_path, postgres):
    pg, pki = postgres
    record(pg, "2.40.7", "2.41.1")
    pg.superuser_sql("CREATE TABLE migrations (id serial, timestamp bigint, name text)", DB_NAME)
    before = fingerprint(pg)
    code, output = run_job(tmp_path, pg, pki, "2.40.7")
    assert code != 0
    assert "n8n downgrade refused: this database was migrated by n8n 2.41.1 and this deployment runs n8n 2.40.7" \
        in " ".join(output.split())
    assert fingerprint(pg) == before
    assert not n8n_may_create_tables(pg), "the refused job must not have granted anything"


def test_upgrade_rehearsal_from_the_previous_release_passes_and_refuses_the_downgrade(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "rehearsal", "prod", "--upgrade-from", catalog.PREVIOUS_N8N_RELEASE,
                           "--report-json", str(out)], cwd=PROJECT, capture_output=True, text=True, timeout=1500)
    report = json.loads(out.read_text()) if out.exists() else {}
    failed = [c for c in report.get("checks", []) if not c["ok"]]
    assert done.returncode == 0 and not failed, done.stdout[-3000:] + done.stderr[-3000:]
    names = " | ".join(c["name"] for c in report["checks"])
    for expected in ("migrations to", "credential still decrypts",
                     "schedule runs at its interval again after the upgrade",
                     "webhook through the router answers again once the new main is ready",
                     f"downgrade to {catalog.PREVIOUS_N8N_RELEASE} refused",
                     "way back to", "history as at the restore point"):
        assert expected in names, expected
    assert report["timings"]["migrations"] > 0
