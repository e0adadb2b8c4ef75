"""The n8n-platform policy pack: assembles the policies; the rules live in checklist/, one module per area.

The Pulumi CLI runs this file as `python -u -m pulumi.policy <engine> .` from this directory (with the
virtualenv named in PulumiPolicy.yaml); pulumi-policy runs it with `runpy.run_path`, which puts this
directory first on the import path. So `checklist` and the `platform_model` it reads are found here, and
the directory works on its own: `pulumi policy publish` uploads exactly this directory.
"""

from pulumi_policy import PolicyPack

from checklist import ENFORCEMENT_LEVEL, POLICIES

PolicyPack(
    name="n8n-platform",
    description=("The n8n production checklist on DigitalOcean: keys, runners, images, databases, access, health, "
                 "alerts, cost."),
    enforcement_level=ENFORCEMENT_LEVEL,
    policies=POLICIES,
)
