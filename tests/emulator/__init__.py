"""Tests of the Spotify emulator (recs/emulator)."""
