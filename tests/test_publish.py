"""The policy pack as `pulumi policy publish` ships it: the `policies/` directory alone, with only its
requirements.txt installed. Marked `publish` (it builds a virtualenv, about a minute): `.ci/run` runs it
as its own step, `python -m pytest -m publish`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from image_sources import SOURCES
from offline import gate
from offline.analyzer import PolicyPack, reconcile
from test_gate import variant_run
from variants import VARIANTS

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.publish
# Not part of what gets published: a local virtualenv, bytecode, the editable install's metadata.
LOCAL_ONLY = shutil.ignore_patterns("venv", "__pycache__", "*.egg-info")
# A few variants across checklist areas (the full set runs against the repository's pack in test_gate).
SAMPLED = ("weak encryption key", "open firewall (0.0.0.0/0)", "runner pool behind an autoscaled worker",
           "latest tag", "no alerts", "unprotected cluster")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The pack copied alone to an empty directory, started with a fresh virtualenv holding only its
    requirements.txt."""
    home = tmp_path_factory.mktemp("published")
    pack_dir = home / "pack"
    shutil.copytree(ROOT / "policies", pack_dir, ignore=LOCAL_ONLY)
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(pack_dir / "requirements.txt")],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    with PolicyPack(pack_dir=pack_dir, python=str(venv / "bin" / "python")) as pack:
        pack.configure(reconcile(pack.info(), {}))
        yield pack, venv


def test_the_copy_has_none_of_the_programs_dependencies(published):
    _, venv = published
    done = subprocess.run([str(venv / "bin" / "python"), "-c", "import pydantic"], capture_output=True, text=True)
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr


def test_the_published_pack_passes_prod(published, prod, tmp_path):
    pack, _ = published
    report = gate.evaluate(prod, pack, SOURCES[0].policy_config(tmp_path))
    assert report.verdicts == [], gate.table(report)
    assert len(pack.info().policies) >= 25


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.name in SAMPLED], ids=lambda v: v.name)
def test_the_published_pack_fails_an_insecure_variant_naming_its_policy(published, prod, variant, tmp_path):
    pack, _ = published
    source = SOURCES[0]
    report = gate.evaluate(variant_run(prod, variant, source), pack, source.policy_config(tmp_path))
    assert report.exit_code == gate.VIOLATION
    assert variant.policy in {v.policy for v in report.mandatory}, gate.table(report)


def test_the_sample_names_real_variants():
    assert len([v for v in VARIANTS if v.name in SAMPLED]) == len(SAMPLED)
