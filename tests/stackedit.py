"""Edit a recorded stack the way a careless code change would, and send it through the real policy pack.

Edits work on the wire form the engine sends (`Registration.properties`, secrets still wrapped), so the
pack sees exactly what `pulumi preview` would hand it after such a change — including the engine's
unknown sentinel for values computed at apply time.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Optional

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from offline.analyzer import PolicyPack, Verdict, analyze_request, stack_resource
from offline.engine import ProgramRun, Registration

UNKNOWN = rpc.UNKNOWN  # what the engine sends for a value only known after `pulumi up`
_SECRET = {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG}


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict) and value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
        return value["value"]
    return value


class StackEdit:
    """A copy of a program run whose resources can be edited before they reach the pack."""

    def __init__(self, run: ProgramRun):
        self.run = run
        self.registrations = {r.urn: r for r in run.resources}
        self._props: dict[str, dict] = {}

    # -- finding --

    def find(self, name: str) -> Registration:
        found = [r for r in self.registrations.values() if r.name == name]
        assert len(found) == 1, f"no single resource named {name}"
        return found[0]

    def props(self, name: str) -> dict:
        """The wire properties of a resource, as an editable dict (secrets wrapped as on the wire)."""
        r = self.find(name)
        if r.urn not in self._props:
            self._props[r.urn] = json_format.MessageToDict(r.properties)
        return self._props[r.urn]

    def options(self, name: str, **changes) -> None:
        """Change a registration's options or dependency edges (protect, property_dependencies...)."""
        r = self.find(name)
        self.registrations[r.urn] = dataclasses.replace(r, **changes)
        self._props.setdefault(r.urn, json_format.MessageToDict(r.properties))

    def remove(self, name: str) -> None:
        """Drop a resource from the stack, as if the code that created it were deleted."""
        r = self.find(name)
        del self.registrations[r.urn]
        self._props.pop(r.urn, None)

    # -- the App spec --

    @property
    def spec(self) -> dict:
        app = self.props("n8n-app")
        app["spec"] = _unwrap(app["spec"])
        return app["spec"]

    def component(self, name: str) -> dict:
        spec = self.spec
        found = [c for kind in ("services", "workers", "jobs") for c in spec.get(kind, []) if c["name"] == name]
        assert len(found) == 1, f"no component {name}"
        return found[0]

    def env(self, component: str, key: str) -> dict:
        entry = next((e for e in self.component(component)["envs"] if e["key"] == key), None)
        assert entry is not None, f"{component} has no {key}"
        return entry

    def set_env(self, component: str, key: str, value: Any = None, *, type_: Optional[str] = None) -> None:
        """Set an env var's value (kept secret-wrapped if it was) and/or type; adds it when missing."""
        envs = self.component(component)["envs"]
        entry = next((e for e in envs if e["key"] == key), None)
        if entry is None:
            entry = {"key": key, "scope": "RUN_TIME", "type": "GENERAL"}
            envs.append(entry)
        if value is not None:
            wrapped = isinstance(entry.get("value"), dict) and SPECIAL_SIG_KEY in entry["value"]
            entry["value"] = {**_SECRET, "value": value} if wrapped and value != UNKNOWN else value
        if type_ is not None:
            entry["type"] = type_

    def drop_env(self, component: str, key: str) -> None:
        comp = self.component(component)
        comp["envs"] = [e for e in comp["envs"] if e["key"] != key]

    def env_value(self, component: str, key: str) -> Any:
        return _unwrap(self.env(component, key)["value"])

    # -- sending --

    def _struct(self, urn: str) -> struct_pb2.Struct:
        return json_format.ParseDict(copy.deepcopy(self._props[urn]), struct_pb2.Struct())

    def edited(self) -> list[Registration]:
        return [r for r in self.registrations.values() if r.urn in self._props]

    def send(self, pack: PolicyPack) -> list[Verdict]:
        """Analyze the edited resources (the baseline test shows the others clean), then the whole stack."""
        structs = {urn: self._struct(urn) for urn in self._props}
        verdicts = []
        for r in self.edited():
            verdicts += pack.analyze(analyze_request(r, structs[r.urn]))
        resources = [stack_resource(r, structs.get(r.urn)) for r in self.registrations.values()]
        return verdicts + pack.analyze_stack(resources)

    def structs(self) -> dict[str, struct_pb2.Struct]:
        return {urn: self._struct(urn) for urn in self._props}

    def as_run(self) -> ProgramRun:
        """The edited stack as a program run (for the gate's `evaluate`)."""
        structs = self.structs()
        resources = [dataclasses.replace(r, properties=structs[r.urn]) if r.urn in structs else r
                     for r in self.registrations.values()]
        return ProgramRun(self.run.stack, resources, self.run.outputs, self.run.secret_outputs)
