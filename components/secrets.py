"""The encryption key and the runner auth tokens (from Pulumi secret config when set, generated otherwise),
the licence key and the Docker Hub credentials (config only).

Outputs are always wrapped as secrets, so they stay encrypted in state and in `pulumi stack output`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_random as random

from builders.names import topology_for
from platform_model.topology import ENCRYPTION_KEY_RESOURCE_SUFFIX
from settings.model import Settings

GENERATED_LENGTH = 48  # alphanumerics: about 285 bits, and no quoting surprises in env vars


@dataclass
class SecretsArgs:
    brokers: list[str]  # one runner token per broker
    encryption_key: str | None = None
    runner_tokens: Mapping[str, str] = field(default_factory=dict)
    license_key: str | None = None
    docker_hub_credentials: str | None = None
    protect: bool = True

    @classmethod
    def from_settings(cls, s: Settings) -> SecretsArgs:
        return cls(
            brokers=list(topology_for(s).brokers),
            encryption_key=s.encryption_key.get_secret_value() if s.encryption_key else None,
            runner_tokens={k: v.get_secret_value() for k, v in s.runner_auth_tokens.items()},
            license_key=s.license_key.get_secret_value() if s.license_key else None,
            docker_hub_credentials=(s.docker_hub_credentials.get_secret_value() if s.docker_hub_credentials
                                    else None),
            protect=s.protect,
        )


class Secrets(pulumi.ComponentResource):
    encryption_key: pulumi.Output[str]
    runner_tokens: dict[str, pulumi.Output[str]]
    license_key: pulumi.Output[str] | None
    docker_hub_credentials: pulumi.Output[str] | None

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:secrets:Secrets", name, None, opts)
        if args.encryption_key is not None:
            self.encryption_key = pulumi.Output.secret(args.encryption_key)
        else:
            # Every stored credential is encrypted with this key: losing it makes them unreadable.
            self.encryption_key = self._generate(f"{name}-{ENCRYPTION_KEY_RESOURCE_SUFFIX}", protect=args.protect)
        # Keyed by broker: adding a worker pair adds a token and leaves the others alone.
        self.runner_tokens = {
            broker: (pulumi.Output.secret(args.runner_tokens[broker]) if broker in args.runner_tokens
                     else self._generate(f"{name}-runner-token-{broker}"))
            for broker in args.brokers
        }
        self.license_key = pulumi.Output.secret(args.license_key) if args.license_key else None
        self.docker_hub_credentials = (pulumi.Output.secret(args.docker_hub_credentials)
                                       if args.docker_hub_credentials else None)
        self.register_outputs({"encryption_key": self.encryption_key, "runner_tokens": self.runner_tokens})

    def _generate(self, resource_name: str, protect: bool = False) -> pulumi.Output[str]:
        password = random.RandomPassword(
            resource_name,
            length=GENERATED_LENGTH,
            special=False,
            min_lower=4,
            min_upper=4,
            min_numeric=4,
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        return pulumi.Output.secret(password.result)
