"""A Pulumi program that registers one App from an App spec file in the API's shape (what `doctl apps create
--spec` reads), as a stack built from a third-party template registers its app. The file is config
`template:spec`; the provider SDK turns the spec into what the engine receives, as for the real program."""

from typing import cast

import pulumi
import pulumi_digitalocean as do
import yaml

from builders.app_spec import to_sdk_spec

with open(pulumi.Config("template").require("spec")) as spec_file:
    do.App("n8n-app", spec=cast(do.AppSpecArgsDict, to_sdk_spec(yaml.safe_load(spec_file))))
