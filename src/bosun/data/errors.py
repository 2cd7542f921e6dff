"""What a database failure means to a client, and how to tell which failure it was.

Three answers, none carrying the driver's text (which may hold SQL, parameters or host names):

* `DatabaseBusy`: no pooled connection became free in time; a retryable 503.
* `DatabaseUnavailable`: the database (or the connection to it) is gone or frozen; the same retryable 503.
* `StatementCancelled` (`StatementTimeout` for the usual reason): the server cancelled the caller's own
  statement while it was alive and answering. Retrying the same call will most likely fail the same way,
  so it is not a 503 but a failure of the tool or resource with a message the client may read.

Whether a cancelled statement was the caller's slow query or a symptom of an outage (a frozen server's
timer fires the moment it thaws) is decided by `Database.session`, which knows whether the database was
seen unreachable meanwhile. This module imports nothing heavy, so the application layer can catch these
types without loading SQLAlchemy.
"""

from __future__ import annotations

from bosun.protocol.errors import INTERNAL_ERROR, McpError


class DatabaseBusy(McpError):
    retry_after = 1  # seconds; for the transport's Retry-After header on this 503

    def __init__(self, timeout: float) -> None:
        super().__init__(INTERNAL_ERROR, f"Database busy: no connection became free within {timeout:g}s; retry later",
                         http_status=503)


class DatabaseUnavailable(McpError):
    """The database cannot be reached: the same retryable 503 as a busy pool, and none of the driver's text."""

    retry_after = 1  # seconds: readiness turns 503 at once, so a retry most likely lands on another replica

    def __init__(self) -> None:
        super().__init__(INTERNAL_ERROR, "Database unavailable; retry later", http_status=503)


class StatementCancelled(Exception):
    """The server cancelled a statement of this call while it was answering: a failure of the call, told plainly.

    Not an `McpError`: a tool reports it as an `isError` result (the model reads why), a resource or prompt
    as a -32603 error with this message. The message never holds SQL or the driver's text."""


class StatementTimeout(StatementCancelled):
    """The statement ran longer than the server's `statement_timeout`: the caller's own slow query."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"The database cancelled a statement that ran longer than the statement timeout ({timeout:g}s)")


_QUERY_CANCELED = "57014"  # SQLSTATE query_canceled: statement_timeout, or pg_cancel_backend()


def cancelled_statement(exc: BaseException, statement_timeout: float) -> StatementCancelled | None:
    """What the client is told when the server cancelled a statement; None for any other failure.

    The reason is only in the server's message, which may be translated (lc_messages): a cancellation
    whose message does not name the statement timeout (or one by pg_cancel_backend) is still reported
    as a cancellation, generically."""
    original = getattr(exc, "orig", None)
    if getattr(original, "sqlstate", None) != _QUERY_CANCELED:
        return None
    if "statement timeout" in str(original).lower():
        return StatementTimeout(statement_timeout)
    return StatementCancelled("The database cancelled a statement before it finished")


def unreachable(exc: BaseException) -> bool:
    """Whether a failure means the database (or the connection to it) is gone, as opposed to a bad statement."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, OperationalError) and _sqlite_statement_error(exc):
        return False
    if isinstance(exc, OSError | ConnectionError | InterfaceError | OperationalError):
        return True  # TimeoutError (a client-side deadline) is an OSError
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


_SQLITE_UNAVAILABLE = ("unable to open", "disk i/o", "locked", "readonly", "disk is full", "not a database")


def _sqlite_statement_error(exc: BaseException) -> bool:
    """SQLite reports a bad statement ("no such table", a syntax error) as an OperationalError too; only a
    file it cannot open, read or lock means the database is unavailable."""
    import sqlite3

    original = getattr(exc, "orig", None)
    if not isinstance(original, sqlite3.OperationalError):
        return False
    text = str(original).lower()
    return not any(marker in text for marker in _SQLITE_UNAVAILABLE)
