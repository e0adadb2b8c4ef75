"""The pack's policies called in this process, with the arguments the pack's own analyzer builds.

`pulumi_policy`'s analyzer (policy.py, `_PolicyAnalyzerServicer.Analyze` / `AnalyzeStack`, read in the
installed pulumi-policy) turns each request into `ResourceValidationArgs` or a `StackValidationArgs` of
`PolicyResource`s: properties through `deserialize_properties` (secrets unwrapped) and
`unknown_checking_proxy`, options from the request, the policy's configured properties, and a
`report_violation` that records the message. `PackInProcess` does the same from the same request messages
(offline.analyzer's `analyze_request` / `stack_resource`), without the subprocess and its gRPC round trips,
and answers with the same `Verdict`s — so rule-level tests run in milliseconds. One difference: the
analyzer deserializes and proxies the properties afresh for each policy, which was most of a test's time;
here the properties are deserialized and proxied once for each distinct resource (by their bytes: most
resources a test sends are the unedited ones every other test sends) and every policy reads that one
copy (policies read it through `checklist.resources.plain`, which copies, so none can see another's
changes), and the running pack, with its fresh copies, must give the same verdicts (test_policies.py).
What only the running pack shows (its metadata, `Configure`, the engine's request shapes) stays with the
gRPC tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType

from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import PolicyCustomTimeouts
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from checklist import ENFORCEMENT_LEVEL, POLICIES
from offline.analyzer import PolicyPack, Verdict, parse_policy_config

NO_STACK_TAGS: Mapping[str, str] = MappingProxyType({})  # the offline gate configures no stack tags


def _props(properties: struct_pb2.Struct) -> Mapping:
    """The properties as the analyzer hands them to a policy (deserialized, then proxied)."""
    return _props_of(properties.SerializeToString(deterministic=True))


@lru_cache(maxsize=128)  # a larger cache kept so much alive that garbage collection cost more than it saved
def _props_of(wire: bytes) -> Mapping:
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct_pb2.Struct.FromString(wire))))


def _options(request) -> PolicyResourceOptions:
    """The analyzer's `_get_resource_options`; offline.analyzer sends protect, parent and the additional
    secret outputs, so delete-before-replace and the custom timeouts stay unset, as the analyzer leaves them."""
    o = request.options
    return PolicyResourceOptions(o.protect, o.ignoreChanges, None, o.aliases, PolicyCustomTimeouts(0, 0, 0),
                                 o.additionalSecretOutputs, o.parent or None)


def _stack_resources(resources: list[proto.AnalyzerResource]) -> list[PolicyResource]:
    """PolicyResources linked to their parent and dependencies, as AnalyzeStack links them."""
    built = {r.urn: PolicyResource(r.type, _props(r.properties), r.urn, r.name, _options(r), None, None, [], {})
             for r in resources}
    for r in resources:
        resource = built[r.urn]
        resource.parent = built.get(r.parent)
        resource.dependencies.extend(built[d] for d in r.dependencies if d in built)
        for key, deps in r.propertyDependencies.items():
            resource.property_dependencies[key] = [built[d] for d in deps.urns if d in built]
    return list(built.values())


class PackInProcess:
    """The checklist's policies with the pack's defaults, or with a policy-pack config."""

    def __init__(self, given: dict | None = None):
        """`given` is a policy-pack config ({"policy": "advisory" | {"enforcementLevel": ..., "<property>":
        ...}}), reconciled as the CLI does: the policy's level, then `all`, then its own; its config schema's
        defaults, then its own properties."""
        settings = parse_policy_config(given or {})
        self.levels: dict[str, EnforcementLevel] = {}
        self.config: dict[str, dict] = {}
        for policy in POLICIES:
            level = policy.enforcement_level or ENFORCEMENT_LEVEL
            for key in ("all", policy.name):
                if key in settings and settings[key].level:
                    level = EnforcementLevel(settings[key].level)
            self.levels[policy.name] = level
            schema = policy.config_schema.properties if policy.config_schema else {}
            props = {k: v["default"] for k, v in schema.items() if "default" in v}
            props.update(settings[policy.name].properties if policy.name in settings else {})
            self.config[policy.name] = props

    def _run(self, kind: type[ResourceValidationPolicy] | type[StackValidationPolicy], args_for, urn: str = ""
             ) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for policy in POLICIES:
            level = self.levels[policy.name]
            if isinstance(policy, kind) and level != EnforcementLevel.DISABLED:
                verdicts += self._validate(policy, level, args_for(self.config[policy.name] or None), urn)
        return verdicts

    @staticmethod
    def _validate(policy: ResourceValidationPolicy | StackValidationPolicy, level: EnforcementLevel, args,
                  urn: str) -> list[Verdict]:
        shown = "mandatory" if level == EnforcementLevel.REMEDIATE else level.value
        severity = policy.severity.value if policy.severity else ""
        reported: list[Verdict] = []

        def report_violation(message: str, violating: str | None = None) -> None:
            if not isinstance(message or "", str) or not isinstance(violating or "", str):
                raise TypeError(f"{policy.name} reported {message!r} for {violating!r}: both must be strings")
            reported.append(Verdict(policy.name, shown, violating or urn, message or policy.description, severity))

        try:
            policy.validate(args, report_violation)
        except UnknownValueError as err:  # the analyzer's advisory "can't run policy ... during preview"
            reported.append(Verdict(policy.name, "advisory", urn,
                                    f"can't run policy '{policy.name}' during preview: {err.message}"))
        return reported

    # -- the same calls as offline.analyzer.PolicyPack, so tests/stackedit.py sends to either --

    def analyze(self, request: proto.AnalyzeRequest) -> list[Verdict]:
        props, options = _props(request.properties), _options(request)
        return self._run(ResourceValidationPolicy, lambda config: ResourceValidationArgs(
            request.type, props, request.urn, request.name, options, None, config, NO_STACK_TAGS), request.urn)

    def analyze_stack(self, resources: Iterable[proto.AnalyzerResource]) -> list[Verdict]:
        built = _stack_resources(list(resources))
        return self._run(StackValidationPolicy, lambda config: StackValidationArgs(built, config, NO_STACK_TAGS))

    check = PolicyPack.check  # Analyze for every resource, then AnalyzeStack: the engine's order
