"""Layer 3: a stack's settings from where they live: `Pulumi.<stack>.yaml` (read without the CLI) or the
Pulumi runtime, checked value by value (settings/) and against each other (cross_checks)."""
