"""recs: self-hosted music recommendations for a household, from its own Spotify listening."""

__version__ = "0.1.0"
