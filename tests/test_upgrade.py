"""Version changes: what the deploy workflow refuses, the downgrade guard the pre-deploy job carries, and
the restore command printed before an upgrade. The guard's SQL runs against real PostgreSQL in
test_upgrade_rehearsal.py; the whole upgrade on real n8n there too."""

import pytest

from builders import env
from offline.render import offline_spec
from platform_model.upgrade import VersionChange, downgrade_guard_sql, release, restore_command
from stack.loader import load_settings
from stackrun import component, env_of, stack_config


def job_env(version: str) -> dict:
    s = load_settings(stack_config("prod", {"n8n": {"version": version}}), "prod")
    return env_of(component(offline_spec(s), "n8n-db-grants"))


def test_the_pre_deploy_job_guards_against_a_downgrade_before_it_grants_anything():
    job = job_env("2.41.1")
    assert job["DB_GUARD_SQL"] == downgrade_guard_sql("2.41.1")
    assert "(major, minor, patch) > (2, 41, 1)" in job["DB_GUARD_SQL"]
    assert "this deployment runs n8n 2.41.1" in job["DB_GUARD_SQL"]
    # n8n's own user reads n8n's tables; the grants stay doadmin's, and run only after the guard passed.
    assert (job["DB_GUARD_USER"], job["DB_GUARD_PASSWORD"]) == ("${postgres.USERNAME}", "${postgres.PASSWORD}")
    assert env.DB_SETUP_COMMAND.index('-c "$DB_GUARD_SQL" &&') < env.DB_SETUP_COMMAND.index('-c "$DB_GRANTS_SQL"')


def test_the_guard_follows_the_version_being_deployed():
    assert "(major, minor, patch) > (2, 40, 7)" in job_env("2.40.7")["DB_GUARD_SQL"]


@pytest.mark.parametrize("deployed, target", [(None, "2.41.1"), ("2.41.1", "2.41.1"), ("2.40.7", "2.41.1"),
                                              ("2.39.10", "2.41.1")])
def test_new_stacks_redeploys_and_upgrades_within_a_major_go_ahead(deployed, target):
    assert VersionChange(deployed, target).problems(None, "Pulumi.prod.yaml") == []


def test_a_downgrade_is_refused_and_the_message_points_at_the_way_back():
    [problem] = VersionChange("2.41.1", "2.40.7").problems(None, "Pulumi.prod.yaml")
    assert "n8n.version 2.40.7 in Pulumi.prod.yaml is older than the deployed 2.41.1" in problem
    assert "restore the restore point" in problem and "docs/upgrades.md" in problem


def test_a_patch_downgrade_is_a_downgrade_too():
    assert VersionChange("2.41.1", "2.41.0").is_downgrade
    assert not VersionChange("2.40.7", "2.41.0").is_downgrade


def test_a_new_major_needs_the_acknowledgement_of_that_major():
    change = VersionChange("2.41.1", "3.0.2")
    [problem] = change.problems(None, "Pulumi.prod.yaml")
    assert "from major 2 to 3, and upgrade.acknowledgeMajor is not set" in problem
    assert "Settings > Migration Report" in problem and "upgrade.acknowledgeMajor: 3" in problem
    [stale] = change.problems(2, "Pulumi.prod.yaml")
    assert "upgrade.acknowledgeMajor is 2" in stale
    assert change.problems(3, "Pulumi.prod.yaml") == []


def test_release_reads_only_pinned_releases():
    assert release("2.41.1") == (2, 41, 1)
    assert release("2.40.10") > release("2.40.7")  # numbers, not text
    with pytest.raises(ValueError, match="'latest' is not a pinned n8n release"):
        release("latest")


def test_the_restore_command_makes_a_new_stack_on_the_fork_with_the_old_version_and_the_same_key():
    lines = restore_command("prod", "n8n-prod-pg", "2026-11-28T10:00:00Z", "2.40.7").splitlines()
    assert lines[0] == "pulumi stack init prod-restored --copy-config-from prod"
    assert "--path 'n8n-platform:postgres.restoreFrom.cluster' n8n-prod-pg" in lines[1]
    assert "--path 'n8n-platform:postgres.restoreFrom.time' 2026-11-28T10:00:00Z" in lines[2]
    assert "--path 'n8n-platform:n8n.version' 2.40.7" in lines[3]
    assert "--secret n8n-platform:encryptionKey" in lines[4] and "--show-secrets encryption_key" in lines[4]
    assert lines[-1] == "pulumi up --stack prod-restored"


# --- python -m offline.upgrade: the deploy workflow's step before `pulumi up` -------------------


def upgrade_cli(capsys, *args):
    from offline.upgrade import main
    code = main(["prod", "--cluster", "n8n-prod-pg", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_upgrade_prints_the_restore_point_and_the_command_that_uses_it(capsys, tmp_path):
    summary = tmp_path / "summary.md"
    code, out, _ = upgrade_cli(capsys, "--deployed", "2.40.7", "--markdown", str(summary))
    assert code == 0
    assert "Restore point for stack prod: 20" in out and "(before n8n 2.40.7 -> 2.41.1)" in out
    assert "pulumi config set --stack prod-restored --path 'n8n-platform:n8n.version' 2.40.7" in out
    assert "--path 'n8n-platform:postgres.restoreFrom.cluster' n8n-prod-pg" in out
    assert "### n8n version change" in summary.read_text() and "prod-restored" in summary.read_text()


def test_an_unchanged_version_needs_no_restore_point(capsys):
    code, out, _ = upgrade_cli(capsys, "--deployed", "2.41.1")
    assert code == 0 and "no version change" in out and "restore" not in out.lower()


def test_a_downgrade_stops_the_workflow_before_pulumi_up(capsys):
    code, out, err = upgrade_cli(capsys, "--deployed", "2.41.3")
    assert code == 1 and out == ""
    assert "refused: n8n.version 2.41.1 in Pulumi.prod.yaml is older than the deployed 2.41.3" in err


def test_an_unknown_deployed_version_still_records_a_restore_point(capsys):
    code, out, _ = upgrade_cli(capsys, "--deployed", "")
    assert code == 0 and "Restore point for stack prod" in out and "<the release it runs now>" in out


def test_a_bad_deployed_version_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        upgrade_cli(capsys, "--deployed", "latest")
    assert exit_.value.code == 2
    assert "'latest' is not a pinned n8n release like 2.41.1" in capsys.readouterr().err


def test_the_deploy_workflow_checks_the_version_change_before_every_pulumi_up():
    from pathlib import Path

    import yaml
    workflow = yaml.safe_load((Path(__file__).resolve().parent.parent / ".github/workflows/deploy.yml").read_text())
    for name, job in workflow["jobs"].items():
        steps = job["steps"]
        check = next(i for i, s in enumerate(steps) if "offline.upgrade" in s.get("run", ""))
        up = next(i for i, s in enumerate(steps) if s.get("with", {}).get("command") == "up")
        assert check < up, name
        assert "pulumi stack output n8n_version" in steps[check]["run"]


def test_the_program_exports_the_release_it_deploys(prod):
    assert prod.outputs["n8n_version"] == "2.41.1"


# --- the upgrade rehearsal's verdicts on what a user saw (fast: recorded data, no n8n) ------------


def test_webhook_failures_while_components_are_replaced_are_measured_not_hidden():
    from rehearsal.upgrade import Call, traffic_check
    calls = [Call(t, ok, "" if ok else "POST /webhook/x -> 404: <!DOCTYPE html>")
             for t, ok in [(1, True), (18, False), (19, False), (20, True), (30, True), (31, True)]]
    check = traffic_check(calls, began=0, settled=25)
    assert check.ok
    assert "4 calls until the new main was ready (25.0 s), 2 failed between 18.0 s and 19.0 s" in check.detail
    assert "(POST /webhook/x -> 404)" in check.detail and "2 of 2 after it succeeded" in check.detail
    assert not traffic_check(calls + [Call(40, False, "timed out")], began=0, settled=25).ok


def test_the_schedule_must_run_at_its_interval_again_and_its_gap_is_reported():
    from rehearsal.upgrade import schedule_verdict
    starts = [0, 5, 10, 30, 35, 40]  # the swap of mains swallowed three runs
    check = schedule_verdict(starts, since=0, settled=30, until=40, label="schedule")
    assert check.ok and "longest gap 20.0 s (3 run(s) missed, 0 doubled)" in check.detail
    assert not schedule_verdict([0, 5, 10, 30], since=0, settled=30, until=40, label="schedule").ok
    assert "1 doubled" in schedule_verdict([0, 5, 5.1, 10, 15], 0, 0, 15, "schedule").detail
