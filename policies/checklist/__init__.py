"""The production checklist as CrossGuard policies, one module per checklist area; `policies/__main__.py`
assembles the pack. The modules import only `platform_model`, pulumi, pulumi_policy and the standard
library, and can be imported without starting the pack's gRPC server."""
