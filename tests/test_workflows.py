"""The gate steps of the pull-request and deploy workflows, run exactly as GitHub Actions runs them, on a
deliberately insecure stack and on prod. (actionlint checks the workflow files themselves in .ci/run.)"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def gate_script(workflow: str, job: str) -> str:
    steps = yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"][job]["steps"]
    scripts = [s["run"] for s in steps if "offline.gate" in s.get("run", "")]
    assert len(scripts) == 1, f"{workflow}: the {job} job should run the gate in one step"
    assert scripts[0].count("python -m offline.gate") == 1, f"{workflow}: the {job} job should run the gate once"
    return scripts[0]


def run_step(script: str, workdir: Path, stack: str = "") -> tuple[int, Path]:
    """Run a step's script as the runner does with no `shell:` (`bash -e`, no pipefail), `python` being
    this venv's."""
    summary = workdir / "step-summary.md"
    env = {**os.environ, "STACK": stack, "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, summary


@pytest.fixture()
def workdir(tmp_path):
    # The working directory holds the stack file, as a checkout would; the program and pack come from ROOT.
    shutil.copy(ROOT / "tests" / "stacks" / "Pulumi.insecure.yaml", tmp_path)
    return tmp_path


def test_gate_step_fails_an_insecure_stack_and_reports_why(workdir):
    code, summary = run_step(gate_script("pull-request.yml", "gate"), workdir, "insecure")
    assert code == 1
    report = json.loads((workdir / "gate-report" / "insecure.json").read_text())
    assert report["result"] == "fail" and report["exit_code"] == 1
    failing = {v["policy"] for v in report["verdicts"] if v["level"] == "mandatory"}
    assert {"database-high-availability", "stateful-resources-protected", "app-alerts",
            "database-alerts"} <= failing
    markdown = (workdir / "gate-report" / "insecure.md").read_text()
    assert "❌ FAIL" in markdown and "`database-high-availability`" in markdown and "**mandatory**" in markdown
    assert "**Monthly cost**" in markdown
    assert summary.read_text() == markdown, "the job summary shows the same Markdown"
    assert (workdir / "gate-report" / "insecure.exit-code").read_text().strip() == "1"


def test_gate_step_passes_prod(workdir):
    code, _ = run_step(gate_script("pull-request.yml", "gate"), workdir, "prod")
    assert code == 0
    report = json.loads((workdir / "gate-report" / "prod.json").read_text())
    assert report["result"] == "pass" and report["verdicts"] == []
    assert report["monthly_cost"]["max"] == 375.0 and report["monthly_cost"]["budget"] == 450
    assert "✅ PASS" in (workdir / "gate-report" / "prod.md").read_text()


def test_gate_step_records_a_stack_it_cannot_judge(workdir):
    code, summary = run_step(gate_script("pull-request.yml", "gate"), workdir, "no-such-stack")
    assert code == 2
    assert (workdir / "gate-report" / "no-such-stack.exit-code").read_text().strip() == "2"
    assert not summary.exists()


@pytest.mark.parametrize("job,stack", [("staging", "staging"), ("production", "prod")])
def test_deploy_stops_at_the_offline_gate(workdir, job, stack):
    # A checkout whose stack file a careless change made insecure: the deploy job must stop before `pulumi up`.
    shutil.copy(workdir / "Pulumi.insecure.yaml", workdir / f"Pulumi.{stack}.yaml")
    code, summary = run_step(gate_script("deploy.yml", job), workdir)
    assert code == 1
    assert f"### `{stack}`: ❌ FAIL" in summary.read_text()


def test_every_action_is_pinned_to_a_commit():
    for path in sorted(WORKFLOWS.glob("*.yml")) + [ROOT / ".github" / "actions" / "setup" / "action.yml"]:
        for line in path.read_text().splitlines():
            line = line.strip().removeprefix("- ")
            if line.startswith("uses:") and not line.startswith("uses: ./"):
                ref = line.split("@", 1)[1].split()[0]
                assert len(ref) == 40 and "# v" in line, f"{path.name}: {line} is not pinned to a commit"


def test_workflows_default_to_read_only_tokens():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {"contents": "read"}, path.name
