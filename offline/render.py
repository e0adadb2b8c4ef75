"""Render a stack's App spec in the API's shape (the YAML `doctl apps create --spec` reads), secrets
redacted, without Pulumi or a cloud account.

    python -m offline.render prod            # YAML to stdout
    python -m offline.render prod -o spec.yaml

Values only known after `pulumi up` (the VPC id) and secrets appear as `<...>`
placeholders; replace them before handing the file to doctl. The stack's monthly cost and capacity go to
stderr (`-q` leaves them out), so stdout stays the spec. Exit codes: 0 rendered, 2 invalid settings,
unknown stack or an output file that cannot be written.
"""

from __future__ import annotations

import argparse
import re
import sys

import yaml

from builders.app_spec import build_app_spec
from builders.env import SecretValues
from builders.names import cluster_name, topology_for
from offline.arguments import output_file
from offline.cost import stack_summary
from platform_model import catalog
from settings.model import Settings, SettingsError
from stack.loader import load_stack

VPC_PLACEHOLDER = "<vpc-id: known after pulumi up>"
# A redacted secret reads `<redacted: what>`; the rehearsal fills each in by what it stands for (the
# doadmin password with its local cluster's).
REDACTED = re.compile(r"^<redacted: (.+)>$")
DB_ADMIN_PASSWORD = "doadmin password of the PostgreSQL cluster"
BACKUP_ACCESS_KEY = "access key of the backup bucket's writer"
BACKUP_SECRET_KEY = "secret key of the backup bucket's writer"


def redacted(what: str) -> str:
    return f"<redacted: {what}>"


def offline_spec(s: Settings) -> dict:
    """The App spec as `pulumi up` would send it, with placeholders for secrets and computed ids."""
    top = topology_for(s)
    secrets = SecretValues(
        encryption_key=redacted("encryptionKey"),
        runner_tokens={b: redacted(f"runnerAuthTokens.{b}") for b in top.brokers},
        db_admin_password=redacted(DB_ADMIN_PASSWORD),
        license_key=redacted("licenseKey") if s.license_key else None,
        docker_hub_credentials=redacted("dockerHubCredentials") if s.docker_hub_credentials else None,
        log_destination_secret=redacted("logDestinationSecret") if s.log_destination_secret else None,
        metrics_authorization=redacted("metricsAuthorization") if s.metrics_authorization else None,
        backup_access_key=redacted(BACKUP_ACCESS_KEY) if s.backups else None,
        backup_secret_key=redacted(BACKUP_SECRET_KEY) if s.backups else None,
    )
    return build_app_spec(
        s,
        vpc_id=VPC_PLACEHOLDER,
        postgres_cluster=cluster_name(s, catalog.POSTGRES),
        valkey_cluster=cluster_name(s, catalog.VALKEY),
        secrets=secrets,
    )


def to_yaml(spec: dict) -> str:
    return yaml.safe_dump(spec, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("-o", "--output", type=output_file, help="write to this file instead of stdout")
    parser.add_argument("-q", "--quiet", action="store_true", help="leave out the cost and capacity summary")
    args = parser.parse_args(argv)
    try:
        stack_file, settings = load_stack(args.stack)
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 2
    for note in stack_file.notes:
        print(f"note: {note}", file=sys.stderr)
    text = to_yaml(offline_spec(settings))
    if args.output:
        try:
            with open(args.output, "w") as fh:
                fh.write(text)
        except OSError as err:
            print(f"python -m offline.render: cannot write --output {args.output}: {err.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    if not args.quiet:
        print(stack_summary(settings), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
