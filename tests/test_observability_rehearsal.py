"""The observability proof on real n8n (`python -m rehearsal.observability prod`): Prometheus scrapes every
n8n process with the stack's rendered scrape configuration and evaluates its rendered rules while the
drills take workers and PostgreSQL away
(the runner-pool drill runs by name only: `--drill runners`). Minutes of real n8n: `pytest -m rehearsal`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.rehearsal
PROJECT = Path(__file__).resolve().parent.parent


def test_metrics_stay_private_and_each_alert_fires_when_its_failure_happens_and_only_then(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "rehearsal.observability", "prod", "--json", str(out)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=900)
    report = json.loads(out.read_text()) if out.exists() else {}
    assert done.returncode == 0 and report.get("ok"), done.stdout + done.stderr
    names = [c["name"] for c in report["checks"]]
    for expected in ("public GET /metrics returns no metrics",
                     "the collector's scrape reaches every n8n process inside the app",
                     "steady state under load: no alert fires",
                     "workers stopped: N8nQueueBacklog (> 20 waiting) fires within its window",
                     "workers back: N8nQueueBacklog resolves",
                     "hung executions: N8nExecutionsStuck fires within its window",
                     "hung executions finished: N8nExecutionsStuck resolves",
                     "PostgreSQL down: N8nMainDown fires",
                     "PostgreSQL back: N8nMainDown resolves"):
        assert expected in names, names
