"""The fault drills on real n8n (`python -m pytest -m drills`, run by .ci/run): the drills CI runs must
meet the goal figures of docs/self-healing.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rehearsal.drills import CI_DRILLS

PROJECT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.drills


def test_the_ci_drills_recover_every_execution_and_answer_every_recovery_call(tmp_path):
    report_file = tmp_path / "drills.json"
    done = subprocess.run([sys.executable, "-m", "rehearsal", "prod", "--drills", ",".join(CI_DRILLS),
                           "--report-json", str(report_file)], cwd=PROJECT, capture_output=True, text=True,
                          timeout=900)
    report = json.loads(report_file.read_text())
    assert [d["name"] for d in report["drills"]] == list(CI_DRILLS), done.stdout + done.stderr[-3000:]
    for drill in report["drills"]:
        assert drill["recovery_ok"] == drill["recovery_sent"] == 50, drill
        assert not {"new", "running"} & set(drill["unfinished"]), drill
    assert done.returncode == 0, done.stdout
