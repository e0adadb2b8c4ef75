"""Where the off-cluster backups go: a private, versioned Spaces bucket whose lifecycle rule expires old
dumps, a key that can write only to it (the backup worker's), and a key that can only read it (for
`python -m rehearsal.verify --backups` and for restores)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from builders.names import backup_bucket, backup_region
from settings.model import Settings

# pulumi-digitalocean 4.84.1 SpacesKeyGrantArgs.permission: `read`, `readwrite` or `fullaccess`.
WRITE, READ = "readwrite", "read"


@dataclass
class BackupStorageArgs:
    bucket: str
    region: str
    retention_days: int
    protect: bool = True

    @classmethod
    def from_settings(cls, s: Settings) -> BackupStorageArgs | None:
        b = s.backups
        if b is None:
            return None
        return cls(bucket=backup_bucket(s), region=backup_region(s),
                   retention_days=b.retention_days, protect=s.protect)


class BackupStorage(pulumi.ComponentResource):
    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:backups:BackupStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Versioned: a leaked writer key that overwrites or deletes dumps only makes them noncurrent, and
        # noncurrent versions live as long as current ones. Protected and never force-destroyed: deleting
        # the bucket deletes the backups.
        self.bucket = do.SpacesBucket(
            f"{name}-bucket", name=args.bucket, region=args.region, acl="private", force_destroy=False,
            versioning={"enabled": True},
            lifecycle_rules=[{
                "enabled": True,
                "expiration": {"days": args.retention_days},
                "noncurrent_version_expiration": {"days": args.retention_days},
                "abort_incomplete_multipart_upload_days": 1,
            }],
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.writer = do.SpacesKey(f"{name}-writer", name=f"{args.bucket}-writer",
                                   grants=[{"bucket": self.bucket.name, "permission": WRITE}], opts=child)
        self.reader = do.SpacesKey(f"{name}-reader", name=f"{args.bucket}-reader",
                                   grants=[{"bucket": self.bucket.name, "permission": READ}], opts=child)
        self.register_outputs({"bucket": self.bucket.name, "endpoint": self.bucket.endpoint})

    def read_credentials(self) -> pulumi.Output:
        """What `rehearsal.verify --backups` needs, as one secret output."""
        return pulumi.Output.secret({
            "bucket": self.bucket.name, "endpoint": self.bucket.endpoint,
            "access_key": self.reader.access_key, "secret_key": self.reader.secret_key,
        })
