"""Layer 0, the platform model: facts (catalog), names and topology, the n8n role classifier, images,
secret strength, and the capacity and cost rules, all over neutral inputs. Standard library only.

It lives inside the policy pack because `pulumi policy publish` uploads the `policies/` directory alone
and installs only `policies/requirements.txt`: whatever the pack imports must travel with it. The program,
the offline tools and the tests import the same modules by the same names through the editable install
of `policies/` (`-e ./policies` in the repository's requirements.txt)."""
