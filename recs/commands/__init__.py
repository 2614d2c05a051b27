"""Subcommands of `recs`, one module per area; recs.cli lists every command it registers (COMMANDS)."""
