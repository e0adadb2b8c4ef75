"""The stack-file loader: YAML read the way the Pulumi CLI reads it, encrypted values understood, secrets
never shown, weak keys refused — and, property-tested, no input that ends in anything but settings or a
SettingsError."""

from __future__ import annotations

import base64
import secrets
import string
import tempfile
import uuid
from pathlib import Path

import pulumi
import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr

from offline import gate
from offline.engine import run_program
from platform_model import secret_strength
from platform_model.catalog import RANDOM_PASSWORD as PASSWORD
from settings.model import SECRET_KEYS, Settings, SettingsError, is_secret_path
from stack.loader import load_stack, stack_name
from stack.yaml_reader import parse, resolve_plain
from stackrun import stack_config

ROOT = Path(__file__).resolve().parent.parent
PROD = (ROOT / "Pulumi.prod.yaml").read_text()


def load(tmp_path: Path, text, stack: str = "t"):
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return load_stack(stack, path)


# --- YAML as yaml.v3 reads it (go-yaml v3.0.1 resolve.go) ------------------------------------------------

RESOLVED = [
    ("10:00", "10:00"), ("03:00", "03:00"), ("12:30:45", "12:30:45"),  # YAML 1.1: sexagesimal numbers
    ("on", "on"), ("off", "off"), ("yes", "yes"), ("No", "No"), ("y", "y"),  # YAML 1.1: booleans
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("tRue", "tRue"),
    ("", None), ("~", None), ("null", None), ("NULL", None), ("nULL", "nULL"),
    ("17", 17), ("+5", 5), ("-0", 0), ("0x1F", 31), ("0o17", 15), ("017", 15), ("0b101", 5), ("1_000", 1000),
    ("08", 8.0), ("3.0", 3.0), ("1e3", 1000.0), (".5", 0.5), ("1e400", "1e400"),
    ("99999999999999999999", 1e20), ("2.41.1", "2.41.1"), ("2024-01-07", "2024-01-07"), ("-", "-"), (".", "."),
]


@pytest.mark.parametrize("text,value", RESOLVED, ids=[t or "(empty)" for t, _ in RESOLVED])
def test_plain_scalars_resolve_as_the_pulumi_cli_reads_them(text, value):
    resolved = resolve_plain(text)
    assert resolved == value and type(resolved) is type(value)


def test_an_unquoted_whole_hour_is_the_hour_not_600(tmp_path):
    _, s = load(tmp_path, "config:\n  n8n-platform:postgres:\n    maintenance:\n      hour: 10:00\n")
    assert s.postgres.maintenance.hour == "10:00"


def test_a_byte_order_mark_is_ignored_like_the_cli_does(tmp_path):
    _, s = load(tmp_path, b"\xef\xbb\xbf" + PROD.encode())
    assert s.workers.pairs == 2


def test_an_empty_stack_file_takes_every_default(tmp_path):
    _, s = load(tmp_path, "")
    assert s == load_stack("t", tmp_path / "Pulumi.t.yaml")[1] and s.workers.pairs == 2


def test_keys_without_namespace_are_the_projects_like_the_cli_namespaces_them(tmp_path):
    sf, s = load(tmp_path, "config:\n  workers:\n    pairs: 3\n  n8n-platform:config:region: fra1\n")
    assert s.workers.pairs == 3 and s.region == "fra1"
    assert set(sf.config) == {"n8n-platform:workers", "n8n-platform:region"}


@pytest.mark.parametrize("written", ["prod", "acme/prod", "acme/n8n-platform/prod"])
def test_qualified_stack_names_read_the_stacks_own_file(written):
    sf, s = load_stack(written)
    assert sf.path.name == "Pulumi.prod.yaml" and s.stack == stack_name(written) == "prod"
    assert s.app_name == "n8n-prod"


def test_problems_name_a_qualified_stack_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.qa.yaml").write_text("config:\n  n8n-platform:workers:\n    pairs: 0\n")
    with pytest.raises(SettingsError) as err:
        load_stack("acme/n8n-platform/qa")
    assert str(err.value).startswith("Pulumi.qa.yaml (stack acme/n8n-platform/qa): 1 problem(s)")


# --- encrypted values -----------------------------------------------------------------------------------

ENCRYPTED = "v1:9J0nQ1aB2cD3eF4g:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789=="


def test_nested_encrypted_runner_tokens_are_understood_and_stand_ins_checked(tmp_path):
    text = PROD + f"  n8n-platform:runnerAuthTokens:\n    n8n-worker-1:\n      secure: {ENCRYPTED}\n"
    sf, s = load(tmp_path, text)
    stand_in = s.runner_auth_tokens["n8n-worker-1"].get_secret_value()
    assert sf.encrypted == ["runnerAuthTokens.n8n-worker-1"] and ENCRYPTED not in stand_in
    assert secret_strength.weakness(stand_in) is None
    assert sf.secret_keys == ["n8n-platform:runnerAuthTokens"]
    assert "runnerAuthTokens.n8n-worker-1 is encrypted" in sf.notes[0]


@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_the_gate_passes_a_stack_whose_secrets_are_encrypted(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.enc.yaml").write_text(
        PROD + f"  n8n-platform:encryptionKey:\n    secure: {ENCRYPTED}\n"
               f"  n8n-platform:runnerAuthTokens:\n    n8n-worker-2:\n      secure: {ENCRYPTED}\n"
               f"  digitalocean:token:\n    secure: {ENCRYPTED}\n")
    assert gate.main(["enc"]) == gate.PASS
    out, err = capsys.readouterr()
    assert "encryptionKey, runnerAuthTokens.n8n-worker-2, digitalocean:token are encrypted" in err
    assert ENCRYPTED not in out + err


def test_an_encrypted_key_is_used_as_given_not_generated(tmp_path):
    sf, _ = load(tmp_path, PROD + f"  n8n-platform:encryptionKey:\n    secure: {ENCRYPTED}\n")
    run = run_program(sf.config, sf.stack, sf.secret_keys)
    assert not [r for r in run.of_type(PASSWORD) if r.name.endswith("encryption-key")]


def test_a_whole_encrypted_map_of_tokens_leaves_them_to_be_generated(tmp_path):
    sf, s = load(tmp_path, PROD + f"  n8n-platform:runnerAuthTokens:\n    secure: {ENCRYPTED}\n")
    assert s.runner_auth_tokens == {} and sf.encrypted == ["runnerAuthTokens"]


def test_an_encrypted_licence_satisfies_multi_main(tmp_path):
    _, s = load(tmp_path, "config:\n  n8n-platform:n8n:\n    multiMain: true\n  n8n-platform:main:\n    instances: 2\n"
                          f"  n8n-platform:licenseKey:\n    secure: {ENCRYPTED}\n")
    assert s.n8n.multi_main and s.license_key is not None


def test_slack_urls_are_a_credential_accepted_with_a_note_or_encrypted(tmp_path):
    url = "https://hooks.slack.com/services/T1/B2/plainurl"
    sf, s = load(tmp_path, "config:\n  n8n-platform:alerts:\n    slackWebhooks:\n"
                           f"      - {{url: {url}, channel: '#ops'}}\n"
                           f"      - {{url: {{secure: {ENCRYPTED}}}, channel: '#dev'}}\n")
    assert s.alerts.slack_webhooks[0].url == url
    assert s.alerts.slack_webhooks[1].url.startswith("https://hooks.slack.com/services/")
    assert any("alerts.slackWebhooks [0] are in plain text" in n and url not in n for n in sf.notes)


# --- secrets under the engine ---------------------------------------------------------------------------


def test_pulumi_up_refuses_a_plain_text_secret_with_the_command_that_fixes_it():
    key = "0f6c1b9e2d7a4c3f8e5b6a1d9c2e7f4a0b3d5c6e8f1a2b4c"
    config = {**stack_config("prod", {"encryptionKey": key}), "digitalocean:token": "dop_v1_plain"}
    with pytest.raises(pulumi.RunError) as err:
        run_program(config, "prod")
    message = str(err.value)
    assert "pulumi config set --secret encryptionKey -s prod" in message
    assert "pulumi config set --secret digitalocean:token -s prod" in message
    assert key not in message and "dop_v1_plain" not in message


# --- which values are secrets ---------------------------------------------------------------------------


def test_every_secret_field_of_the_model_is_in_the_one_secret_list():
    secret_fields = {f.alias or n for n, f in Settings.model_fields.items()
                     if SecretStr in (f.annotation, *getattr(f.annotation, "__args__", ()))}
    assert secret_fields == set(SECRET_KEYS)


@pytest.mark.parametrize("path,secret", [
    (("encryptionKey",), True), (("encryption_key",), True), (("ENCRYPTION-KEY",), True),
    (("runnerAuthTokens", "n8n-worker-1"), True), (("runner_auth_tokens",), True), (("n8n", "licenseKey"), True),
    (("alerts", "slackWebhooks", "0", "url"), True), (("alerts", "slack_webhooks", "3", "url"), True),
    (("alerts",), True), (("alerts", "slackWebhooks"), True),
    (("alerts", "slackWebhooks", "0", "channel"), False), (("alerts", "emails", "0"), False),
    (("workers", "pairs"), False), (("region",), False),
])
def test_secret_paths_in_any_spelling(path, secret):
    assert is_secret_path(path) is secret


# --- the weak-key rule ----------------------------------------------------------------------------------

GENERATED = {
    "openssl rand -hex 32": lambda: secrets.token_hex(32),
    "openssl rand -hex 16": lambda: secrets.token_hex(16),
    "openssl rand -base64 32": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "48 alphanumerics": lambda: "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(48)),
    "uuid4": lambda: str(uuid.uuid4()),
}


@pytest.mark.parametrize("generator", GENERATED)
def test_generated_keys_pass_the_weak_key_rule(generator):
    assert [k for k in (GENERATED[generator]() for _ in range(1000)) if secret_strength.weakness(k)] == []


# --- property: any content is settings or a SettingsError -------------------------------------------------

PLANTED = "PLANTEDsecretQ7x9Lm2Vb8Nc4Zr6Tk1Wp3Yh5"
NAMES = st.sampled_from(["config", "confg", "n8n-platform:workers", "workers", "pairs", "n8n-platform:encryptionKey",
                         "encryption_key", "runnerAuthTokens", "n8n-worker-1", "secure", "digitalocean:token",
                         "n8n-platform:alerts", "slackWebhooks", "url", "n8n-platform:postgres", "maintenance",
                         "hour", "n8n-platform:", "a:b:c", "", "n8n-platform:region", "other:key"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=20),
                    st.sampled_from(["10:00", "on", "0x1F", ".inf", "ams3", "v1:abc"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(NAMES, inner, max_size=4)), max_leaves=20)
# Where a secret may sit in a stack file, in any spelling or misplaced; its value must never be shown.
SECRET_SPOTS = st.sampled_from([
    {"n8n-platform:encryptionKey": PLANTED}, {"encryption_key": PLANTED}, {"n8n-platform:licenseKey": PLANTED},
    {"n8n-platform:runnerAuthTokens": {"n8n-worker-1": PLANTED}}, {"runnerAuthTokens": PLANTED},
    {"runner_auth_tokens": [PLANTED]}, {"digitalocean:token": PLANTED},
    {"n8n-platform:n8n": {"encryptionKey": PLANTED}},
    {"n8n-platform:alerts": {"slackWebhooks": [{"url": PLANTED, "channel": 1}]}},
    {"n8n-platform:alerts": {"slackWebhooks": PLANTED}}, {"n8n-platform:alerts": PLANTED},
    {"n8n-platfrom:encryptionKey": PLANTED}, {"n8n-platform:encryptionKey": {"secure": PLANTED, "x": 1}},
])
DOCUMENTS = st.one_of(VALUES, st.dictionaries(NAMES, VALUES, max_size=5),
                      st.builds(lambda c, spot: {"config": {**c, **spot}}, st.dictionaries(NAMES, VALUES, max_size=6),
                                SECRET_SPOTS))


def _outcome(content) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            load(Path(tmp), content)
        except SettingsError as err:
            assert PLANTED not in str(err)
            return "error"
    return "settings"


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_any_yaml_document_gives_settings_or_a_settings_error(document):
    _outcome(yaml.safe_dump(document, allow_unicode=True))


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_settings_or_a_settings_error(content):
    _outcome(content)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.integers(0, len(PROD) - 1), st.text(min_size=1, max_size=3), st.integers(0, 3))
def test_any_edit_of_a_real_stack_file_gives_settings_or_a_settings_error(at, inserted, removed):
    _outcome(PROD[:at] + inserted + PROD[at + removed:])


def test_the_yaml_reader_never_raises_on_hostile_structure():
    hostile = ["[" * 50_000, "{a: " * 5_000, "&a [*a]", "a: !!python/name:os.system x", "%TAG ! tag:x\n--- !x 1",
               "? " * 3000 + "x", "- " * 3000 + "x", "a: |\n  " + "x" * 10_000]
    for text in hostile:
        assert isinstance(parse(text).problems, list)
