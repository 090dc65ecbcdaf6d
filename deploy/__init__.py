"""Infrastructure as code for the bridge (see deploy/README.md)."""
