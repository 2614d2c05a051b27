"""Import of the Spotify data export: extended streaming history, legacy endsong, and account data."""

from __future__ import annotations

from recs.usecases.imports.errors import ImportRejected
from recs.usecases.imports.service import ImportReport, run_import

__all__ = ["ImportRejected", "ImportReport", "run_import"]
