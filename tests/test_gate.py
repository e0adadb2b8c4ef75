"""The offline gate: the shipped stacks, its exit codes, its config handling, and the insecure variants
of the prod stack, each of which the pack must refuse naming the right policy (which fails the gate)."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from image_sources import SOURCES
from offline import engine, gate
from offline.analyzer import PolicyPack, PolicyPackError, analyze_request, reconcile, stack_resource
from offline.engine import ProgramRun
from pack_in_process import PackInProcess
from settings.model import SettingsError
from stack import loader
from stack.loader import load_settings
from stackedit import StackEdit
from stackrun import run_stack, stack_config
from variants import VARIANTS

ROOT = Path(__file__).resolve().parent.parent


def test_prod_passes_the_gate_as_the_readme_runs_it():
    done = subprocess.run([sys.executable, "-m", "offline.gate", "prod"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^PASS prod: 0 mandatory, 0 advisory violation\(s\); \d+ policies over \d+ resources",
                     done.stdout, re.M)


@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_a_prod_stack_with_a_connection_pool_passes_the_gate(tmp_path, monkeypatch, capsys):
    stack = (ROOT / "Pulumi.prod.yaml").read_text().replace(
        "  n8n-platform:postgres:\n", "  n8n-platform:postgres:\n    connectionPool:\n      mode: transaction\n")
    assert "connectionPool" in stack
    (tmp_path / "Pulumi.pooled.yaml").write_text(stack)
    monkeypatch.chdir(tmp_path)  # a checkout of its own, as the gate reads the stack file it is run next to
    code, out = gate.main(["pooled"]), capsys.readouterr().out
    assert code == gate.PASS, out
    # prod's 32 resources (the stack itself, the uptime check with its 3 alerts, the backup storage, its
    # bucket and 2 keys among them) and the pool
    assert re.search(r"^PASS pooled: 0 mandatory, 0 advisory violation\(s\); \d+ policies over 34 resources",
                     out, re.M)
    assert "client connections to the PgBouncer pool, which opens 92 server connections" in out


@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_staging_passes_with_its_documented_advisories(capsys):
    assert gate.main(["staging"]) == gate.PASS
    out = capsys.readouterr().out
    assert "config: policies/config/staging.json" in out
    verdict_table = out.split("\n\n")[0].splitlines()
    assert verdict_table[0].split() == ["POLICY", "RESOURCE", "LEVEL", "MESSAGE"]
    rows = [line.split() for line in verdict_table[1:]]
    assert rows and {r[2] for r in rows} == {"advisory"}
    assert {r[0] for r in rows} == {"database-high-availability", "stateful-resources-protected",
                                    "off-cluster-backups"}
    assert out.splitlines()[-1].startswith(f"PASS staging: 0 mandatory, {len(rows)} advisory")
    assert "n8n-staging: $92.00/month at minimum scale" in out  # the cost comes with the verdicts


@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_staging_with_production_levels_fails(tmp_path, capsys):
    strict = tmp_path / "strict.json"
    strict.write_text("{}")
    assert gate.main(["staging", "--policy-pack-config", str(strict)]) == gate.VIOLATION
    out = capsys.readouterr().out
    assert "FAIL staging: 7 mandatory" in out
    assert re.search(r"^database-high-availability\s+n8n-postgres-cluster\s+mandatory\s+", out, re.M)


@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_one_run_prints_the_table_and_writes_both_reports(tmp_path, capsys):
    json_file, markdown_file = tmp_path / "staging.json", tmp_path / "staging.md"
    assert gate.main(["staging", "--json", str(json_file), "--markdown", str(markdown_file)]) == gate.PASS
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("PASS staging: 0 mandatory, 7 advisory")
    report = json.loads(json_file.read_text())
    assert report["result"] == "pass" and report["advisory"] == 7 == len(report["verdicts"])
    markdown = markdown_file.read_text()
    assert markdown.startswith("### `staging`: ✅ PASS") and markdown.count("| advisory |") == 7


@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_one_gate_run_reads_the_stack_file_once_and_reports_the_exported_numbers(tmp_path, monkeypatch, capsys):
    reads = []
    read_text = loader._read_text
    monkeypatch.setattr(loader, "_read_text", lambda path, stack: reads.append(path) or read_text(path, stack))
    run_program = engine.run_program

    def exported(*args, **kwargs):  # what `pulumi stack output` shows, changed after the program ran
        run = run_program(*args, **kwargs)
        run.outputs["capacity"]["concurrent_executions"] = 999.0
        run.outputs["monthly_cost"]["components"]["valkey"]["max"] = 1234.5
        run.outputs["monthly_cost"]["max"] = 1539.5
        return run

    monkeypatch.setattr(engine, "run_program", exported)
    json_file, markdown_file = tmp_path / "prod.json", tmp_path / "prod.md"
    assert gate.main(["prod", "--json", str(json_file), "--markdown", str(markdown_file)]) == gate.PASS
    assert [p.name for p in reads] == ["Pulumi.prod.yaml"]
    report = json.loads(json_file.read_text())
    assert report["capacity"]["concurrent_executions"] == 999  # a count again, as the program exported it
    assert report["monthly_cost"]["components"]["valkey"]["max"] == 1234.5
    assert "capacity: 999 concurrent executions" in capsys.readouterr().out
    markdown = markdown_file.read_text()
    assert "| valkey | db-s-1vcpu-2gb × 2 nodes | 60.00 | 1,234.50 * |" in markdown
    assert "| **total** | | **375.00** | **1,539.50** |" in markdown  # 365 + the backup worker and Spaces


@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_an_unwritable_report_is_bad_input(tmp_path, capsys):
    target = tmp_path / "missing-dir" / "gate.md"
    assert gate.main(["prod", "--markdown", str(target)]) == gate.BAD_INPUT
    assert f"cannot write --markdown {target}: No such file or directory" in capsys.readouterr().err


def test_unknown_stack_is_bad_input(capsys):
    assert gate.main(["nope"]) == gate.BAD_INPUT
    assert "stacks in this project: prod, staging" in capsys.readouterr().err


@pytest.mark.parametrize("config,fragment", [
    ({"database-high-availibility": "advisory"},
     "no such policy in the pack (did you mean database-high-availability?)"),
    ({"valkey-noeviction": "optional"}, "'optional' is not an enforcement level"),
    ({"database-trusted-sources": {"allowedSources": "0.0.0.0/0"}}, "database-trusted-sources.allowedSources"),
    ({"database-trusted-sources": {"allowedSources": ["anywhere"]}}, "does not match"),
    ({"database-trusted-sources": {"allowedSource": []}}, "'allowedSource' was unexpected"),
    (["advisory"], "must be a JSON object"),
    ({"image-sources": {"allowedImages": ["quay.io/acme/n8n"]}},
     "image-sources.allowedImages.0: 'quay.io/acme/n8n' is not an image as `docker pull` names it"),
    ({"image-sources": {"allowedImages": "docker.io/n8nio/n8n"}},
     "image-sources.allowedImages: 'docker.io/n8nio/n8n' is not of type 'array' (a list of the images"),
])
@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_bad_policy_pack_config_is_bad_input(tmp_path, capsys, config, fragment):
    path = tmp_path / "levels.json"
    path.write_text(json.dumps(config))
    assert gate.main(["prod", "--policy-pack-config", str(path)]) == gate.BAD_INPUT
    assert fragment in capsys.readouterr().err


def test_a_pack_that_cannot_start_is_reported_with_its_error(tmp_path):
    (tmp_path / "__main__.py").write_text("raise SystemExit('policies could not load')\n")
    with PolicyPack(pack_dir=tmp_path) as broken, pytest.raises(PolicyPackError, match="policies could not load"):
        broken.info()


def test_a_policy_that_crashes_is_a_pack_failure_not_a_verdict(tmp_path, prod):
    (tmp_path / "__main__.py").write_text(
        "from pulumi_policy import PolicyPack, ResourceValidationPolicy\n"
        "def broken(args, report):\n    raise RuntimeError('bug in a policy')\n"
        "PolicyPack('broken', [ResourceValidationPolicy('broken', 'Always crashes.', broken)])\n")
    with (PolicyPack(pack_dir=tmp_path) as broken,
          pytest.raises(PolicyPackError, match=r"failed on Analyze\(n8n-[a-z-]+\): .*bug in a policy")):
        broken.check(prod.resources)


def test_verdicts_are_data_and_the_table_shows_each(pack, prod):
    stack = StackEdit(prod)
    stack.props("n8n-postgres-cluster").update(nodeCount=1)
    report = gate.evaluate(stack.as_run(), pack)
    assert report.exit_code == gate.VIOLATION
    [verdict] = report.mandatory
    assert (verdict.policy, verdict.resource, verdict.severity) == (
        "database-high-availability", "n8n-postgres-cluster", "high")
    assert verdict.urn.endswith("::n8n-postgres-cluster")
    lines = gate.table(report).splitlines()
    assert lines[0].split() == ["POLICY", "RESOURCE", "LEVEL", "MESSAGE"]
    assert lines[1].split()[:3] == ["database-high-availability", "n8n-postgres-cluster", "mandatory"]


# --- insecure variants of prod -------------------------------------------------------------------


def settings_refuse(overrides: dict) -> bool:
    try:
        load_settings(stack_config("prod", overrides), "prod")
    except SettingsError:
        return True
    return False


def layers(variant) -> str:
    if not variant.as_settings:
        return "policy pack (a code change; no setting expresses it)"
    if settings_refuse(variant.overrides):
        return "settings validation and policy pack"
    return "policy pack (the settings accept it)"


def test_there_are_at_least_15_insecure_variants():
    assert len(VARIANTS) >= 15
    assert len({v.name for v in VARIANTS}) == len(VARIANTS)


@pytest.fixture
def pack_then_defaults(pack):
    """The session's pack, configured by the test through the gate, then back to the pack's defaults."""
    yield pack
    pack.configure(reconcile(pack.info(), {}))


@functools.cache
def settings_variant(name: str) -> ProgramRun:
    """The program on prod's stack file with the variant's settings, run once for all image sources."""
    return run_stack("prod", next(v for v in VARIANTS if v.name == name).overrides)


def variant_run(prod, variant, source):
    """The variant as a user would make it, with its images from `source`."""
    if variant.as_settings and not settings_refuse(variant.overrides):
        stack = StackEdit(settings_variant(variant.name))  # the stack file as a user would write it
        source.rewrite(stack)
    else:
        # Settings refuse it (or cannot express it): the pack must catch the same change made in code.
        assert variant.mutate is not None, f"{variant.name}: refused by settings, so it needs a code mutation"
        stack = StackEdit(prod)
        source.rewrite(stack)
        variant.mutate(stack)
    return stack.as_run()


@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_prod_passes_the_gate_whatever_its_image_source(pack_then_defaults, prod, source, tmp_path):
    stack = StackEdit(prod)
    source.rewrite(stack)
    report = gate.evaluate(stack.as_run(), pack_then_defaults, source.policy_config(tmp_path))
    assert report.verdicts == [], gate.table(report)


def analyze_changes(pack, run, prod) -> list:
    """What the running pack says of `run`, as `pulumi preview` would ask it, except for the resources whose
    Analyze request is exactly prod's: prod's pass every policy (test_policies.py), so asking again only
    repeated the answer. Then AnalyzeStack over the whole stack, unchanged resources included."""
    prods = {r.urn: analyze_request(r) for r in prod.resources}
    verdicts = []
    for r in run.resources:
        request = analyze_request(r)
        if prods.get(r.urn) != request:
            verdicts += pack.analyze(request)
    return verdicts + pack.analyze_stack(stack_resource(r) for r in run.resources)


# Every variant goes through the running pack with the program's own images (Docker Hub); each other image
# source, and the config it needs, goes through the running pack once (the test above) and with every
# variant through the same policies called in this process (tests/pack_in_process.py, which
# test_policies.py holds to the running pack): every variant × source pair is proven, at a third of the
# gRPC round trips. That a mandatory verdict makes the gate exit 1 is shown by the gate's own tests (an
# insecure stack through the workflows' gate step, staging with production levels).
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_insecure_variant_fails_in_the_running_pack_naming_its_policy(pack, prod, variant):
    verdicts = analyze_changes(pack, variant_run(prod, variant, SOURCES[0]), prod)
    assert variant.policy in {v.policy for v in verdicts if v.mandatory}, verdicts


@pytest.mark.parametrize("source", SOURCES[1:], ids=[s.name for s in SOURCES[1:]])
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_insecure_variant_fails_naming_its_policy_whatever_its_image_source(prod, variant, source):
    verdicts = PackInProcess(source.given()).check(variant_run(prod, variant, source).resources)
    assert variant.policy in {v.policy for v in verdicts if v.mandatory}, verdicts


def test_policy_docs_say_which_layers_catch_each_variant():
    doc = (ROOT / "docs" / "policies.md").read_text()
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3:
            rows[cells[0]] = (cells[1], cells[2])
    for variant in VARIANTS:
        assert variant.name in rows, f"docs/policies.md's variant table has no row for {variant.name!r}"
        assert rows[variant.name] == (layers(variant), f"`{variant.policy}`"), variant.name
    intro = doc.split("**Insecure variants of prod**")[1].split("| Variant |")[0]
    for source in SOURCES:
        assert source.name in intro, f"docs/policies.md does not say the variants run with images from {source.name}"
