"""The one exception core raises for a refusal a person should read."""

from __future__ import annotations


class Refused(Exception):
    """A request core will not carry out, with a one-line reason that names the problem and the fix.

    Nothing has been written when it is raised: callers run core inside a transaction that rolls back.
    """

    def __init__(self, reason: str, *, code: str = "refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return self.reason


class NotFound(Refused):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="not_found")


class Forbidden(Refused):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="forbidden")
