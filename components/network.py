"""The private network the databases and the app share."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from settings.model import Settings


@dataclass
class NetworkArgs:
    name: str
    region: str

    @classmethod
    def from_settings(cls, s: Settings) -> NetworkArgs:
        return cls(name=f"{s.app_name}-vpc", region=s.region)


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:network:Network", name, None, opts)
        self.vpc = do.Vpc(
            f"{name}-vpc",
            name=args.name,
            region=args.region,
            description="n8n: App Platform app and its managed databases",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"vpc_id": self.vpc.id})
