"""Entry points: the `recs` command group (`recs.cli.main`), one module of subcommands per area, and the scheduler."""
