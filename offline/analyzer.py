"""Talks to the policy pack the way the Pulumi engine does, without the Pulumi CLI.

The CLI starts a Python pack as `<venv>/bin/python -u -m pulumi.policy <engine-address> .` in the pack's
directory, reads the port the pack prints, and speaks the Analyzer gRPC service: `GetAnalyzerInfo`,
`Configure` (every policy's enforcement level and properties, after reconciling the pack's defaults with
`--policy-pack-config`), `ConfigureStack`, then `Analyze` for each resource as it is registered, with its
inputs, and `AnalyzeStack` once with all of them, components and the stack itself included, with their
outputs. This module does the same, so the pack under test is exactly the
pack `pulumi preview --policy-pack policies` runs. (The pack never calls the engine back, so the engine
address it is given is a placeholder.)
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from offline.engine import Registration

POLICY_PACK_DIR = Path(__file__).resolve().parent.parent / "policies"
START_TIMEOUT_SECONDS = 30
CALL_TIMEOUT_SECONDS = 60
NO_ENGINE = "127.0.0.1:0"  # the pack never dials the engine; the CLI passes its own address here

LEVELS = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "remediate": proto.REMEDIATE,
          "disabled": proto.DISABLED}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
SEVERITY_NAMES = {proto.POLICY_SEVERITY_UNSPECIFIED: "", proto.POLICY_SEVERITY_LOW: "low",
                  proto.POLICY_SEVERITY_MEDIUM: "medium", proto.POLICY_SEVERITY_HIGH: "high",
                  proto.POLICY_SEVERITY_CRITICAL: "critical"}


class PolicyPackError(Exception):
    """The pack did not start, or failed while analyzing (a bug in a policy, not a violation)."""


class PolicyConfigError(Exception):
    """The policy-pack config file is unreadable or does not fit the pack."""


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One diagnostic the pack reported: a policy violated by a resource (or by the stack)."""

    policy: str
    level: str  # advisory | mandatory
    urn: str  # empty when the violation is about the stack as a whole
    message: str
    severity: str = ""

    @property
    def resource(self) -> str:
        return self.urn.rsplit("::", 1)[-1] if self.urn else "(stack)"

    @property
    def mandatory(self) -> bool:
        return self.level == "mandatory"


def _verdict(diag: proto.AnalyzeDiagnostic, urn: str = "") -> Verdict:
    # pulumi_policy prefixes the message with the policy's description; the table shows the rest.
    message = diag.message
    if diag.description and message.startswith(diag.description):
        message = message[len(diag.description):].lstrip("\n") or diag.description
    return Verdict(policy=diag.policyName, level=LEVEL_NAMES.get(diag.enforcementLevel, "advisory"),
                   urn=diag.urn or urn, message=message, severity=SEVERITY_NAMES.get(diag.severity, ""))


# --- requests as the engine builds them ----------------------------------------------------------


def _options(r: Registration) -> proto.AnalyzerResourceOptions:
    return proto.AnalyzerResourceOptions(protect=r.protect, parent=r.parent or "",
                                         additionalSecretOutputs=r.additional_secret_outputs)


def analyze_request(r: Registration) -> proto.AnalyzeRequest:
    """What Analyze receives for a resource as it is registered: its inputs."""
    return proto.AnalyzeRequest(type=r.type, properties=r.properties, urn=r.urn, name=r.name, options=_options(r))


def stack_resource(r: Registration) -> proto.AnalyzerResource:
    """What AnalyzeStack receives per resource: its outputs ("Unlike Analyze, AnalyzeStack is called on
    the final outputs", pkg/resource/deploy/step_generator.go) — for a component, exactly what it passed
    to `register_outputs` — with its dependency edges."""
    return proto.AnalyzerResource(
        type=r.type, properties=r.output_properties, urn=r.urn, name=r.name, options=_options(r),
        parent=r.parent or "", dependencies=list(r.dependencies),
        propertyDependencies={k: proto.AnalyzerPropertyDependencies(urns=v)
                              for k, v in r.property_dependencies.items() if v},
    )


# --- policy-pack config (`--policy-pack-config FILE`) --------------------------------------------


@dataclass(frozen=True)
class PolicySetting:
    level: str
    properties: dict = field(default_factory=dict)


def read_policy_config(path: Path) -> dict[str, PolicySetting]:
    """Read a policy-pack config file (`--policy-pack-config`)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise PolicyConfigError(f"{path}: cannot read the policy-pack config ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise PolicyConfigError(f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
                                f"{err.start})") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise PolicyConfigError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except (ValueError, RecursionError) as err:
        raise PolicyConfigError(f"{path}: {err if isinstance(err, ValueError) else 'nested far too deep'}") from None
    return parse_policy_config(data, str(path))


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)}: set twice in one object; keep one")
    return dict(pairs)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_policy_config(data: object, source: str = "config") -> dict[str, PolicySetting]:
    """Policy-pack config as the CLI reads it (pulumi/pulumi `pkg/resource/analyzer/config.go`):
    `{"policy": "advisory"}` or `{"policy": {"enforcementLevel": "advisory", "<property>": ...}}`; `"all"`
    sets every policy's level and takes nothing else."""
    if not isinstance(data, dict):
        raise PolicyConfigError(f"{source}: must be a JSON object of policy name -> level or settings")
    config, problems = {}, []
    for name, value in data.items():
        if name == "environments":
            problems.append("environments: the offline gate cannot read Pulumi ESC environments; give the "
                            "policies' settings in this file")
            continue
        if isinstance(value, str):
            level, props = value, {}
        elif isinstance(value, dict):
            props = dict(value)
            level = props.pop("enforcementLevel", None)
        else:
            problems.append(f"{name}: must be an enforcement level ({', '.join(LEVELS)}) or an object of settings "
                            f"(got a {type(value).__name__})")
            continue
        if level is not None and (not isinstance(level, str) or level not in LEVELS):
            shown = (repr(level) if isinstance(level, str) else json.dumps(level))[:40]
            problems.append(f"{name}: {shown} is not an enforcement level ({', '.join(LEVELS)})")
            continue
        if name == "all" and props:
            problems.append(f"all: takes only enforcementLevel; {', '.join(sorted(props))} belong under a policy's "
                            "own name")
            continue
        config[name] = PolicySetting(level or "", props)
    if problems:
        raise PolicyConfigError(f"{source}: " + "; ".join(problems))
    return config


def reconcile(info: proto.AnalyzerInfo, given: Mapping[str, PolicySetting], source: str = "config"
              ) -> dict[str, PolicySetting]:
    """Every policy's effective level and properties: the pack's defaults (including config-schema
    defaults), then `all`, then per-policy settings, validated against each policy's config schema —
    the CLI's reconciliation, except that an unknown policy name is an error here (a typo would
    otherwise silently leave a policy at its default)."""
    policies = {p.name: p for p in info.policies}
    problems = []
    for name in given:
        if name != "all" and name not in policies:
            close = difflib.get_close_matches(name, list(policies), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{name}: no such policy in the pack{hint}")
    result = {}
    for name, policy in policies.items():
        schema = json_format.MessageToDict(policy.configSchema)
        props = {k: v["default"] for k, v in schema.get("properties", {}).items() if "default" in v}
        level = LEVEL_NAMES[policy.enforcementLevel]
        for key in ("all", name):
            setting = given.get(key)
            if setting is None:
                continue
            level = setting.level or level
            if key == name:
                props.update(setting.properties)
        if schema.get("properties") or props:
            full = {"type": "object", "properties": schema.get("properties", {}), "additionalProperties": False,
                    "required": schema.get("required", [])}
            for err in jsonschema.Draft7Validator(full).iter_errors(props):
                where = ".".join(str(p) for p in err.absolute_path)
                problems.append(f"{name}{'.' + where if where else ''}: {_schema_problem(err)}")
        result[name] = PolicySetting(level, props)
    if problems:
        raise PolicyConfigError(f"{source}: " + "; ".join(problems))
    return result


def _schema_problem(err: jsonschema.ValidationError) -> str:
    """jsonschema's message, with the policy's own description of a valid value when its schema gives one:
    a regular expression tells a reader little."""
    described = err.schema.get("description") if isinstance(err.schema, dict) else None
    if described and err.validator == "pattern":
        return f"{err.instance!r} is not {described}"
    return f"{err.message} ({described})" if described else err.message


# --- the pack process ----------------------------------------------------------------------------


class PolicyPack:
    """The pack running as a subprocess, started like the CLI starts it, and a gRPC client for it.

    The process starts at once; the client waits for its port at the first call, so the pack can load
    while the program runs under mocks."""

    def __init__(self, pack_dir: Path = POLICY_PACK_DIR, python: str = sys.executable):
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the pack's stderr, read and closed by this object
        self.process = subprocess.Popen(
            [python, "-u", "-m", "pulumi.policy", NO_ENGINE, "."], cwd=pack_dir,
            stdout=subprocess.PIPE, stderr=self._log,
        )
        self._stdout = cast(IO[bytes], self.process.stdout)  # a stream, as stdout=PIPE asks
        self.channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._info: proto.AnalyzerInfo | None = None

    @property
    def stub(self) -> analyzer_pb2_grpc.AnalyzerStub:
        if self._stub is None:
            self.channel = grpc.insecure_channel(f"127.0.0.1:{self._read_port()}")
            self._stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        return self._stub

    def _read_port(self) -> int:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self._stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_SECONDS)
        text = line[0].decode().strip() if line else ""
        if not text.isdigit():
            code = self.process.poll()
            why = f"exited with code {code}" if code is not None else f"printed no port in {START_TIMEOUT_SECONDS} s"
            log = self.log()
            self.close()
            raise PolicyPackError(f"the policy pack did not start ({why}):\n{log}")
        return int(text)

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stdout.close()
        self._log.close()

    def __enter__(self) -> PolicyPack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, request, what: str):
        try:
            return getattr(self.stub, method)(request, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as err:
            raise PolicyPackError(f"the policy pack failed on {what}: {err.details()}\n{self.log()}") from None

    # -- the Analyzer service, in the engine's order --

    def info(self) -> proto.AnalyzerInfo:
        if self._info is None:
            self._info = self._call("GetAnalyzerInfo", empty_pb2.Empty(), "GetAnalyzerInfo")
        return self._info

    def configure(self, settings: Mapping[str, PolicySetting]) -> None:
        config = {}
        for name, s in settings.items():
            props = struct_pb2.Struct()
            props.update(s.properties)
            config[name] = proto.PolicyConfig(enforcementLevel=LEVELS[s.level], properties=props)
        self._call("Configure", proto.ConfigureAnalyzerRequest(policyConfig=config), "Configure")

    def configure_stack(self, stack: str, project: str, config: Mapping[str, str]) -> None:
        request = proto.AnalyzerStackConfigureRequest(stack=stack, project=project, dry_run=True,
                                                      config=dict(config))
        self._call("ConfigureStack", request, "ConfigureStack")

    def analyze(self, request: proto.AnalyzeRequest) -> list[Verdict]:
        response = self._call("Analyze", request, f"Analyze({request.name})")
        return [_verdict(d, request.urn) for d in response.diagnostics]

    def analyze_stack(self, resources: Iterable[proto.AnalyzerResource]) -> list[Verdict]:
        response = self._call("AnalyzeStack", proto.AnalyzeStackRequest(resources=list(resources)),
                              "AnalyzeStack")
        return [_verdict(d) for d in response.diagnostics]

    def check(self, registrations: Iterable[Registration]) -> list[Verdict]:
        """Analyze every resource, then the stack: what one `pulumi preview` asks of the pack."""
        registrations = list(registrations)
        verdicts = []
        for r in registrations:
            verdicts += self.analyze(analyze_request(r))
        return verdicts + self.analyze_stack(stack_resource(r) for r in registrations)
