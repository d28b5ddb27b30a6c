"""Challenge layouts and rules: manifests from a challenge's metadata, its scoring and report,
its submission folder (one module per challenge)."""
