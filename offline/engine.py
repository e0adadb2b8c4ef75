"""Stands in for the Pulumi engine: runs `__main__.py` under Pulumi's mocks with a stack's config and
records every resource registration exactly as the engine receives it.

Used by the tests, the offline policy gate and the spec renderer: no Pulumi CLI, no cloud credentials.
Mocked providers return what the real ones would compute (ids, generated passwords of the requested
length, the doadmin credentials, the app's URL), so policies see realistic values.
"""

from __future__ import annotations

import hashlib
import runpy
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.stack import config_for_engine

PROJECT = "n8n-platform"
PROGRAM = Path(__file__).resolve().parent.parent / "__main__.py"


@dataclass
class Registration:
    """One RegisterResource call, as the engine saw it."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict  # deserialized; secrets unwrapped
    secret_paths: set  # top-level input keys that arrived as secrets
    properties: struct_pb2.Struct  # the wire form (what an analyzer receives)
    protect: bool
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    outputs: dict = field(default_factory=dict)


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]  # stack exports, resolved
    secret_outputs: set[str]  # exports that are secrets

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
    """What DigitalOcean and random would compute, deterministic per resource name except passwords."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        inputs = _deep_unwrap(dict(args.inputs))
        rid = f"{args.name}-{_stable_id(args.typ, args.name)}"
        if args.typ == "random:index/randomPassword:RandomPassword":
            # Deterministic per resource, so two runs of one stack can be compared value by value.
            inputs["result"] = _pseudo_random(args.name, int(inputs.get("length", 32)))
        elif args.typ == "digitalocean:index/databaseCluster:DatabaseCluster":
            host = f"{inputs.get('name', args.name)}-do-user-0.db.ondigitalocean.com"
            inputs.update(
                host=host, private_host=f"private-{host}", port=25060, user="doadmin",
                password=_pseudo_random(args.name + "/doadmin", 24), database="defaultdb",
                urn=f"do:dbaas:{rid}",
            )
        elif args.typ == "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool":
            # DigitalOcean's pools listen on the cluster's hosts, port 25061.
            host = f"{inputs.get('name', args.name)}-do-user-0.db.ondigitalocean.com"
            inputs.update(host=host, private_host=f"private-{host}", port=25061,
                          password=_pseudo_random(args.name + "/pool", 24))
        elif args.typ == "digitalocean:index/app:App":
            name = inputs.get("spec", {}).get("name", args.name)
            inputs.update(live_url=f"https://{name}-{_stable_id(name)[:5]}.ondigitalocean.app",
                          default_ingress=f"https://{name}-{_stable_id(name)[:5]}.ondigitalocean.app",
                          app_urn=f"do:app:{rid}")
        elif args.typ == "digitalocean:index/vpc:Vpc":
            inputs.update(urn=f"do:vpc:{rid}", ip_range="10.110.16.0/20")
        return rid, inputs

    def call(self, args: pulumi_mocks.MockCallArgs):
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw = rpc.deserialize_properties(request.object)
        secret_paths = {k for k, v in raw.items() if rpc.is_rpc_secret(v)}
        props = struct_pb2.Struct()
        props.CopyFrom(request.object)
        self.registrations.append(Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            inputs=_deep_unwrap(raw),
            secret_paths=secret_paths,
            properties=props,
            protect=bool(request.protect),
            parent=request.parent,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider,
            outputs=_deep_unwrap(self.resources[response.urn].state) if response.urn in self.resources else {},
        ))
        return response


def run_program(config: Mapping[str, Any], stack: str, secret_keys: Optional[list[str]] = None,
                program: Path = PROGRAM) -> ProgramRun:
    """Run the Pulumi program once under mocks (`preview=False`) and return what it registered."""
    monitor = RecordingMonitor(ProviderMocks())
    pulumi.runtime.set_mocks(ProviderMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config_for_engine(config), secret_keys or [])

    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(program), run_name="__main__")))

    root = pulumi.runtime.settings.get_root_resource()
    outputs, secret_outputs = {}, set()
    for key, value in (getattr(root, "outputs", None) or {}).items():
        out = pulumi.Output.from_input(value)
        outputs[key] = _sync_await(out.future())
        if _sync_await(out.is_secret()):
            secret_outputs.add(key)
    return ProgramRun(stack, monitor.registrations, outputs, secret_outputs)
