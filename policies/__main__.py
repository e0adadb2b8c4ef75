"""The n8n-platform policy pack: assembles the policies; the rules live in the modules next to this file.

The Pulumi CLI runs this file as `python -u -m pulumi.policy <engine> .` from this directory (with the
virtualenv named in PulumiPolicy.yaml), so the repository root — where `components/` holds the catalog
of sizes, ports and names the policies check against — is put on the import path first. The pack is
meant to be run from this repository: `pulumi preview --policy-pack policies`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies import (access, backups, configuration, cost, databases, health, images, keys, monitoring,  # noqa: E402
                      protection, recognition, runners, scaling)

PolicyPack(
    name="n8n-platform",
    description=("The n8n production checklist on DigitalOcean: keys, runners, images, databases, access, health, "
                 "alerts, cost."),
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[*recognition.POLICIES, *keys.POLICIES, *databases.POLICIES, *access.POLICIES, *runners.POLICIES,
              *images.POLICIES, *scaling.POLICIES, *health.POLICIES, *monitoring.POLICIES, *protection.POLICIES, *backups.POLICIES,
              *configuration.POLICIES, *cost.POLICIES],
)
