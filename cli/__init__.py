"""The `livescore` command line (SPEC §5)."""
