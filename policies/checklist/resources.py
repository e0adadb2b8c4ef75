"""How the pack reads what the Pulumi engine sends it: plain values and whole stacks (the App spec itself is
read by platform_model/spec_reader.py).

The engine hands resource policies each resource's inputs and stack policies every resource's outputs
(a component's: what it passed to `register_outputs`), in the SDK's camelCase shape
(`spec.services[].envs[]`, `instanceCount`, `privateNetworkUuid`), numbers as floats, secrets
unwrapped. During `pulumi preview`
a value computed by another resource (a generated password, an id) is *unknown*: it arrives as one of
the engine's sentinel strings. `pulumi_policy` wraps the properties in a proxy that raises on an
unknown, and turns that into an advisory "can't run policy during preview" — even for a mandatory
policy. So every policy here reads `plain(...)` values and decides for itself, per value, whether an
unknown is acceptable (docs/policies.md lists the choice of each policy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import serialize_properties
from pulumi_policy.proxy import _DictProxy, _ListProxy

from platform_model.catalog import APP
from platform_model.spec_reader import AppSpec, app_spec

_PROXIES = (_DictProxy, _ListProxy)
_SCALARS = (str, float, int, bool, type(None))


def plain(props: Any) -> Any:
    """The properties as plain dicts/lists, unknowns kept as their sentinel strings: what pulumi_policy's
    own serializer returns, which unwraps its unknown-checking proxies without raising. JSON-shaped values
    are copied here by exact type, because the serializer's checks against abstract classes for every
    value made it more than half of each policy's time (every stack policy reads the whole stack);
    anything else (assets, archives, secrets) still goes through the serializer."""
    kind = type(props)
    if kind in _PROXIES:
        props = props["__target"]
        kind = type(props)
    # Leaves (most values) are taken as they are, without a call each.
    if kind is dict:
        return {key: value if type(value) in _SCALARS else plain(value) for key, value in props.items()}
    if kind is list:
        return [value if type(value) in _SCALARS else plain(value) for value in props]
    if kind in _SCALARS:
        return props
    return serialize_properties(props)


# --- policies ------------------------------------------------------------------------------------

Problems = Iterable[str]
StackProblems = Iterable[tuple[str | None, str]]  # (urn of the offending resource, message)


def resource_policy(*, name: str, description: str, severity: Severity, remediation: str,
                    types: tuple[str, ...], check: Callable[[dict, ResourceValidationArgs], Problems],
                    level: EnforcementLevel = EnforcementLevel.MANDATORY,
                    config_schema=None) -> ResourceValidationPolicy:
    """A policy that runs `check(plain_props, args)` on every resource of `types`; each string it yields
    is one violation."""

    def validate(args: ResourceValidationArgs, report_violation) -> None:
        if args.resource_type not in types:
            return
        for problem in check(plain(args.props), args):
            report_violation(problem)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=level, severity=severity, remediation_steps=remediation,
                                    config_schema=config_schema)


def stack_policy(*, name: str, description: str, severity: Severity, remediation: str,
                 check: Callable[[Stack], StackProblems],
                 level: EnforcementLevel = EnforcementLevel.MANDATORY,
                 config_schema=None) -> StackValidationPolicy:
    """A policy over the whole stack; `check` yields (urn, message) pairs."""

    def validate(args: StackValidationArgs, report_violation) -> None:
        for urn, problem in check(Stack(args.resources, args.get_config() or {})):
            report_violation(problem, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=level, severity=severity, remediation_steps=remediation,
                                 config_schema=config_schema)


# --- the stack (AnalyzeStack) --------------------------------------------------------------------


class Stack:
    """Every resource of the stack with its outputs as plain properties, and the dependency edges the
    engine sent."""

    def __init__(self, resources: list[PolicyResource], config: Mapping[str, Any]):
        self.resources = resources
        self.config = config
        self._props: dict[int, Any] = {}  # copied when a check first reads them; most read a few types

    def props(self, r: PolicyResource) -> dict:
        if id(r) not in self._props:
            self._props[id(r)] = plain(r.props)
        return self._props[id(r)]

    def of_type(self, type_: str) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type == type_]

    def apps(self) -> Iterator[tuple[PolicyResource, AppSpec | None, list[str]]]:
        """Each App with its readable spec, or the problem that makes it unreadable."""
        for app in self.of_type(APP):
            spec, problems = app_spec(self.props(app))
            yield app, spec, problems

    @staticmethod
    def depends_on(r: PolicyResource, prop: str, other: PolicyResource) -> bool:
        """Whether property `prop` of `r` was computed from `other` (the engine's propertyDependencies)."""
        return any(d.urn == other.urn for d in r.property_dependencies.get(prop, []))

    @staticmethod
    def dependencies_of_type(r: PolicyResource, prop: str, type_: str) -> list[PolicyResource]:
        return [d for d in r.property_dependencies.get(prop, []) if d.resource_type == type_]


def app_check(check: Callable[[AppSpec, ResourceValidationArgs], Problems]):
    """Adapt a check of the App spec to `resource_policy`: an unreadable spec is itself a violation."""

    def run(props: dict, args: ResourceValidationArgs) -> Problems:
        spec, problems = app_spec(props)
        if spec is None:
            yield from problems
            return
        yield from check(spec, args)

    return run
