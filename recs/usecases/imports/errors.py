"""The one error the importer raises: an upload refused, with a message saying which file and why."""

from __future__ import annotations


class ImportRejected(ValueError):
    """The upload was refused before anything was written; the message names the file and the reason."""
