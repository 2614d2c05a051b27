"""Use cases: what recs does (sync, import, train, list, publish, build the prior), each owning its transactions."""
