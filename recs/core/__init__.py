"""Core: the domain's types and rules (settings, names, signals, the hold-out split, ranking, metrics); no I/O beyond reading."""
