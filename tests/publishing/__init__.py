"""Tests of publishing playlists to the emulated Spotify."""
