"""Subcommands of `recs`, one module per area; each module attaches its commands to recs.cli.main on import."""
