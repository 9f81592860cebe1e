"""Errors that reach the user as one clear line (the CLI prints them and exits non-zero)."""


class PaperfeedError(Exception):
    """A problem the user can act on: bad input, an unreachable server, a wrong setting."""


class SourceError(PaperfeedError):
    """A source could not be read at all (malformed file, wrong URL, server down)."""


class RecordError(ValueError):
    """One record is malformed; it is rejected and the rest of the input goes in."""
