"""Exceptions, defined once and raised by both twins of the hot path.

Every error a user can cause or meet (not root, audit owned by someone else, the
database unreachable, a bad config, an unreadable log) is a `GodoError`: the CLI
prints its message as one line and exits non-zero, never a traceback.
"""


class GodoError(Exception):
    """An error to show the user as one line."""

    exit_code = 1


class AuditError(GodoError):
    """The kernel's audit subsystem refused or is unavailable."""

    errno: int | None = None  # the kernel's answer, when it gave one


class AuditBusyError(AuditError):
    """Another audit daemon owns the unicast stream."""


class StoreError(GodoError):
    """The database cannot be reached or refused a write."""


class ConfigError(GodoError):
    """A configuration file or flag is invalid."""

    exit_code = 2


class MalformedRecord(ValueError):
    """One audit record could not be parsed.

    Never raised through the pipeline: the pipeline counts the record, keeps the
    error with its location and goes on. `parse_record` raises it for callers that
    ask about a single record.
    """
