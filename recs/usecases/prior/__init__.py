"""The community prior: item factors over Spotify tracks built offline from ListenBrainz's CC0 listen dumps.

Public API:
- `load_prior(path)` -> `Prior` (verified; raises `PriorError` naming the file and problem in one line);
- `write_prior(path, track_ids=, item_factors=, listeners=, listens=, track_names=, artist_names=, manifest=)`
  writes format 1 of docs/prior.md atomically.
"""

from __future__ import annotations

from recs.usecases.prior.artifact import FORMAT, FORMAT_VERSION, Prior, PriorError, load_prior, write_prior

__all__ = ["FORMAT", "FORMAT_VERSION", "Prior", "PriorError", "load_prior", "write_prior"]
