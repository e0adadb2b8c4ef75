"""The production checklist as CrossGuard policies. `policies/__main__.py` assembles the pack; the rules
live in one module per checklist area, importable without starting the pack's gRPC server."""
