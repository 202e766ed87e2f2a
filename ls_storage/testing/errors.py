"""The errors a query can fail with; each becomes ApertureDB's single error object on the wire."""


class QueryError(Exception):
    """A command failed: the whole transaction is rolled back and answered with status -1."""

    status = -1


class NotUniqueError(QueryError):
    """``unique: true`` matched more than one object (ApertureDB's status 3)."""

    status = 3
