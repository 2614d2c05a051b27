"""Tests of the worker: job ledger, deadlines, scheduling, backups."""
