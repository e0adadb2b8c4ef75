"""Stands in for the Pulumi engine: runs `__main__.py` under Pulumi's mocks with a stack's config and
records every resource exactly as the engine holds it: its inputs, as `Analyze` receives them, and its
outputs, as `AnalyzeStack` receives them.

Used by the tests, the offline policy gate and the spec renderer: no Pulumi CLI, no cloud credentials.
Mocked providers return what the real ones would compute (ids, generated passwords of the requested
length, the doadmin credentials, the app's URL, under the provider's own output names), so policies
see realistic values. What the engine makes of them (pulumi/pulumi, read 2026-08-21):
- a custom resource's outputs are its provider's state, secret wherever the input it came from was secret
  (`annotateSecrets`, pkg/resource/plugin/provider_plugin.go: pulumi-terraform-bridge's Configure does
  not declare acceptSecrets) and for every `additionalSecretOutputs` key the SDK names
  (pkg/resource/deploy/step_executor.go). The bridge also wraps the fields its schema marks secret (an
  env var's `value`); that is left out here, as policies see every secret unwrapped;
- a component's outputs are exactly what it passed to `register_outputs`: nothing until it does
  (pkg/resource/deploy/step_generator.go creates its state with no outputs);
- the stack itself (`pulumi:pulumi:Stack`) is a resource too, its outputs the stack's exports.
"""

from __future__ import annotations

import hashlib
import runpy
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import Stack, massage, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from platform_model import catalog
from stack.loader import config_for_engine

PROJECT = "n8n-platform"
PROGRAM = Path(__file__).resolve().parent.parent / "__main__.py"
STACK = "pulumi:pulumi:Stack"


@dataclass
class Registration:
    """One RegisterResource call, as the engine saw it."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict  # deserialized; secrets unwrapped
    secret_paths: set  # top-level input keys that arrived as secrets
    properties: struct_pb2.Struct  # the inputs on the wire, secrets wrapped (what Analyze receives)
    protect: bool
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    additional_secret_outputs: list[str]  # the outputs the program (or the SDK) asked the engine to keep secret
    # The outputs on the wire, secrets wrapped (what AnalyzeStack receives); a component's stay empty
    # until it registers them.
    output_properties: struct_pb2.Struct = field(default_factory=struct_pb2.Struct)

    @property
    def outputs(self) -> dict:
        """The outputs, secrets unwrapped."""
        return _deep_unwrap(json_format.MessageToDict(self.output_properties))


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]  # stack exports, resolved
    secret_outputs: set[str]  # exports that are or hold secrets

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registration:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}")
        return found[0]


def _unwrap(value: Any) -> tuple[Any, bool]:
    if rpc.is_rpc_secret(value):
        return rpc.unwrap_rpc_secret(value), True
    return value, False


def _deep_unwrap(value: Any) -> Any:
    value, _ = _unwrap(value)
    if isinstance(value, dict):
        return {k: _deep_unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_unwrap(v) for v in value]
    return value


def _pseudo_random(seed: str, length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    digest = b""
    while len(digest) < length:
        digest += hashlib.sha256(f"{seed}/{len(digest)}".encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12]


class ProviderMocks(pulumi_mocks.Mocks):
    """What DigitalOcean and random would compute, deterministic per resource name except passwords.
    Output names are the provider's (camelCase, as in pulumi-digitalocean 4.84.1's schema)."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        inputs = _deep_unwrap(dict(args.inputs))
        rid = f"{args.name}-{_stable_id(args.typ, args.name)}"
        if args.typ == catalog.RANDOM_PASSWORD:
            # Deterministic per resource, so two runs of one stack can be compared value by value.
            inputs["result"] = _pseudo_random(args.name, int(inputs.get("length", 32)))
        elif args.typ == catalog.CLUSTER:
            host = f"{inputs.get('name', args.name)}-do-user-0.db.ondigitalocean.com"
            inputs.update(
                host=host, privateHost=f"private-{host}", port=25060, user="doadmin",
                password=_pseudo_random(args.name + "/doadmin", 24), database="defaultdb",
                clusterUrn=f"do:dbaas:{rid}",
            )
        elif args.typ == catalog.CONNECTION_POOL:
            # DigitalOcean's pools listen on the cluster's hosts, port 25061.
            host = f"{inputs.get('name', args.name)}-do-user-0.db.ondigitalocean.com"
            inputs.update(host=host, privateHost=f"private-{host}", port=25061,
                          password=_pseudo_random(args.name + "/pool", 24))
        elif args.typ == catalog.APP:
            name = inputs.get("spec", {}).get("name", args.name)
            url = f"https://{name}-{_stable_id(name)[:5]}.ondigitalocean.app"
            inputs.update(liveUrl=url, defaultIngress=url, appUrn=f"do:app:{rid}")
        elif args.typ == catalog.VPC:
            inputs.update(vpcUrn=f"do:vpc:{rid}", ipRange="10.110.16.0/20")
        return rid, inputs

    def call(self, args: pulumi_mocks.MockCallArgs):
        return {}


def _secret(value: Any) -> Any:
    return rpc.wrap_rpc_secret(value)


def _contains_secret(value: Any) -> bool:
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(_contains_secret(v) for v in value.values())
    return isinstance(value, list) and any(_contains_secret(v) for v in value)


def _keep_secrets(outputs: dict, inputs: dict) -> None:
    """Mark an output secret where the input of the same name held a secret; objects on both sides are
    followed key by key, anything else is marked whole (the engine's `annotateSecrets`)."""
    for key, given in inputs.items():
        if key not in outputs or rpc.is_rpc_secret(outputs[key]):
            continue
        if isinstance(outputs[key], dict) and isinstance(given, dict) and not rpc.is_rpc_secret(given):
            _keep_secrets(outputs[key], given)
        elif _contains_secret(given):
            outputs[key] = _secret(outputs[key])


def provider_outputs(state: struct_pb2.Struct, inputs: struct_pb2.Struct,
                     additional_secret_outputs: list[str]) -> struct_pb2.Struct:
    """A custom resource's outputs as the engine stores them: the provider's state with the secrets of
    its inputs and its `additionalSecretOutputs` wrapped."""
    outputs = json_format.MessageToDict(state)
    _keep_secrets(outputs, json_format.MessageToDict(inputs))
    for key in additional_secret_outputs:
        if key in outputs:
            outputs[key] = _secret(outputs[key])
    return json_format.ParseDict(outputs, struct_pb2.Struct())


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._by_urn: dict[str, Registration] = {}

    def RegisterResource(self, request):  # noqa: N802 - overrides the SDK MockMonitor's gRPC method
        response = super().RegisterResource(request)
        raw = rpc.deserialize_properties(request.object)
        props = struct_pb2.Struct()
        props.CopyFrom(request.object)
        registration = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            inputs=_deep_unwrap(raw),
            secret_paths={k for k, v in raw.items() if rpc.is_rpc_secret(v)},
            properties=props,
            protect=bool(request.protect),
            parent=request.parent,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider,
            additional_secret_outputs=list(request.additionalSecretOutputs),
        )
        if registration.custom:
            registration.output_properties = provider_outputs(response.object, request.object,
                                                              registration.additional_secret_outputs)
        self.registrations.append(registration)
        self._by_urn[registration.urn] = registration
        return response

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def RegisterResourceOutputs(self, request):  # noqa: N802 - overrides the SDK MockMonitor's gRPC method
        # The SDK sends it once the resource's URN is back from RegisterResource.
        self._by_urn[request.urn].output_properties.CopyFrom(request.outputs)
        return super().RegisterResourceOutputs(request)


def run_program(config: Mapping[str, Any], stack: str, secret_keys: list[str] | None = None,
                program: Path = PROGRAM) -> ProgramRun:
    """Run the Pulumi program once under mocks (`preview=False`) and return what it registered."""
    monitor = RecordingMonitor(ProviderMocks())
    # set_mocks makes a stack resource only when there is none: each run gets its own, as each
    # `pulumi up` does, rather than the previous run's.
    # The SDK's annotation says Resource, but the variable it sets holds None until a stack exists (its own
    # reset_options sets None).
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(ProviderMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config_for_engine(config), secret_keys or [])

    _sync_await(run_pulumi_func(lambda: _run_in_stack(program)))

    [root] = monitor.of_type(STACK)
    exports = json_format.MessageToDict(root.output_properties)
    secret = {key for key, value in exports.items() if _contains_secret(value)}
    return ProgramRun(stack, monitor.registrations, root.outputs, secret)


def _run_in_stack(program: Path) -> None:
    """Run the program, then register its exports as the stack's outputs, as the SDK's `run_in_stack`
    does under `pulumi up`. (The mocks' stack registered its outputs, none yet, when it was created.)"""
    runpy.run_path(str(program), run_name="__main__")
    root = pulumi.runtime.settings.get_root_resource()
    assert isinstance(root, Stack), "set_mocks registers the stack resource before the program runs"
    root.register_outputs(massage(root.outputs, []))
