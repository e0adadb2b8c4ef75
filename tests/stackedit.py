"""Edit a recorded stack the way a careless code change would, and send it through the real policy pack.

Edits work on the wire form the engine sends, secrets still wrapped, so the pack sees exactly what
`pulumi preview` would hand it after such a change — including the engine's unknown sentinel for values
computed at apply time. `props(name)` is what AnalyzeStack receives for the resource: its outputs. A
custom resource's outputs are its provider's echo of its inputs plus what the provider computes, so an
edit of an output it echoes is an edit of the input Analyze receives as well; a component's outputs are
only what it registered, and its inputs stay as they were.
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from offline.analyzer import PolicyPack, Verdict, analyze_request, stack_resource
from offline.engine import ProgramRun, Registration

UNKNOWN = rpc.UNKNOWN  # what the engine sends for a value only known after `pulumi up`
_SECRET = {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG}
_ABSENT = object()


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG


def _unwrap(value: Any) -> Any:
    return value["value"] if _is_secret(value) else value


def _struct(data: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(data)
    return message


def _copy(data: dict) -> dict:
    """A deep copy of JSON-shaped data (a pickle round trip: a third of copy.deepcopy's time)."""
    return pickle.loads(pickle.dumps(data))


_RECORDED: dict[int, tuple[struct_pb2.Struct, dict]] = {}


def _recorded(message: struct_pb2.Struct) -> dict:
    """A recorded run's properties as a dict, converted once (never edit it: `_copy` it). The entry holds the
    message, so its id cannot be reused by another."""
    hit = _RECORDED.get(id(message))
    if hit is None or hit[0] is not message:
        hit = _RECORDED[id(message)] = (message, json_format.MessageToDict(message))
    return hit[1]


class StackEdit:
    """A copy of a program run whose resources can be edited before they reach the pack."""

    def __init__(self, run: ProgramRun):
        self.run = run
        self.registrations = {r.urn: r for r in run.resources}
        self._outputs: dict[str, dict] = {}  # edited outputs, by URN
        # Secret values opened for editing, by URN: {path of an object: its keys that were secret}.
        self._opened: dict[str, dict[tuple, set]] = {}

    # -- finding --

    def find(self, name: str) -> Registration:
        found = [r for r in self.registrations.values() if r.name == name]
        assert len(found) == 1, f"no single resource named {name}"
        return found[0]

    def props(self, name: str) -> dict:
        """What AnalyzeStack receives for a resource (its outputs, secrets wrapped), as an editable dict."""
        r = self.find(name)
        if r.urn not in self._outputs:
            self._outputs[r.urn] = _copy(_recorded(r.output_properties))
        return self._outputs[r.urn]

    def options(self, name: str, **changes) -> None:
        """Change a registration's options or dependency edges (protect, property_dependencies...)."""
        self.props(name)  # an edited resource is analyzed again
        r = self.find(name)
        self.registrations[r.urn] = dataclasses.replace(r, **changes)

    def remove(self, name: str) -> None:
        """Drop a resource from the stack, as if the code that created it were deleted."""
        r = self.find(name)
        del self.registrations[r.urn]
        self._outputs.pop(r.urn, None)
        self._opened.pop(r.urn, None)

    # -- the App spec --

    def _open(self, urn: str, path: tuple, data: dict) -> None:
        """Unwrap the secret values of `data` for editing; they are wrapped again when sent."""
        keys = {k for k, v in data.items() if _is_secret(v)}
        for k in keys:
            data[k] = data[k]["value"]
        self._opened.setdefault(urn, {}).setdefault(path, set()).update(keys)

    @property
    def spec(self) -> dict:
        """The App's spec, its secret parts (the component lists, whose env vars hold secrets) opened for
        editing."""
        app = self.props("n8n-app")
        urn = self.find("n8n-app").urn
        self._open(urn, (), app)
        self._open(urn, ("spec",), app["spec"])
        return app["spec"]

    def components(self) -> list[dict]:
        spec = self.spec
        return [c for kind in ("services", "workers", "jobs") for c in spec.get(kind, [])]

    def component(self, name: str) -> dict:
        found = [c for c in self.components() if c["name"] == name]
        assert len(found) == 1, f"no component {name}"
        return found[0]

    def env(self, component: str, key: str) -> dict:
        entry = next((e for e in self.component(component)["envs"] if e["key"] == key), None)
        assert entry is not None, f"{component} has no {key}"
        return entry

    def set_env(self, component: str, key: str, value: Any = None, *, type_: str | None = None) -> None:
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

    def _wire(self, urn: str) -> dict:
        """The edited outputs as the engine sends them: what was secret, secret again."""
        data = _copy(self._outputs[urn])
        for path, keys in sorted(self._opened.get(urn, {}).items(), key=lambda item: -len(item[0])):
            target: Any = data
            for step in path:
                target = target.get(step) if isinstance(target, dict) else None
            for k in keys & set(target if isinstance(target, dict) else ()):
                target[k] = {**_SECRET, "value": target[k]}
        return data

    def _inputs(self, r: Registration, after: dict) -> dict:
        """Analyze's inputs after the edit: a custom resource's edited outputs (`after`, on the wire), except
        those only its provider computes, replace its inputs of the same name."""
        inputs = dict(_recorded(r.properties))  # only top-level keys change
        if not r.custom:
            return inputs
        before = _recorded(r.output_properties)
        for key in before.keys() | after.keys():
            old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
            if old == new or (key in before and key not in inputs):
                continue
            if new is _ABSENT:
                inputs.pop(key, None)
            else:
                inputs[key] = new
        return inputs

    def _edited(self, r: Registration) -> Registration:
        if r.urn not in self._outputs:
            return r
        wire = self._wire(r.urn)
        return dataclasses.replace(r, properties=_struct(self._inputs(r, wire)), output_properties=_struct(wire))

    def send(self, pack: PolicyPack) -> list[Verdict]:
        """Analyze the edited resources (the baseline test shows the others clean), then the whole stack."""
        resources = self.as_run().resources
        verdicts = []
        for r in resources:
            if r.urn in self._outputs:
                verdicts += pack.analyze(analyze_request(r))
        return verdicts + pack.analyze_stack(stack_resource(r) for r in resources)

    def as_run(self) -> ProgramRun:
        """The edited stack as a program run (for the gate's `evaluate`)."""
        resources = [self._edited(r) for r in self.registrations.values()]
        return ProgramRun(self.run.stack, resources, self.run.outputs, self.run.secret_outputs)
