"""Errors that reach the user as one clear line (the CLI prints them and exits non-zero)."""


class PaperfeedError(Exception):
    """A problem the user can act on: bad input, an unreachable server, a wrong setting."""


class SourceError(PaperfeedError):
    """A source could not be read at all (malformed file, wrong URL, server down)."""


def first_line(exc: BaseException) -> str:
    """The first line of what a database driver (or any error) says: its reason, without
    the SQL and parameters SQLAlchemy adds after it."""
    orig = getattr(exc, "orig", None) or exc
    said = str(orig).strip()
    return said.splitlines()[0] if said else type(orig).__name__


class RecordError(ValueError):
    """One record is malformed; it is rejected and the rest of the input goes in."""


class ActionError(PaperfeedError):
    """A request that cannot be done; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class NotFound(ActionError):
    """The thing acted on does not exist (or is not the caller's to see)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


class Conflict(ActionError):
    """The action clashes with what is already there."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 409)
