"""Renraku's errors and the one place they map to GraphQL `extensions.code`.

RenrakuError
 ├── Unauthenticated   UNAUTHENTICATED  no valid session
 ├── Forbidden         FORBIDDEN        visible, but this action or field is not allowed
 ├── NotFound          NOT_FOUND        missing, malformed, other type or invisible: one message
 ├── BadInput          BAD_USER_INPUT   validation failed; names the offending field
 └── RateLimited       RATE_LIMITED     too many attempts; says when to retry
"""

from __future__ import annotations

from typing import Any

NOT_FOUND_MESSAGE = "Not found."


class RenrakuError(Exception):
    code = "INTERNAL"
    message = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code}


class Unauthenticated(RenrakuError):
    code = "UNAUTHENTICATED"
    message = "Sign in first."


class Forbidden(RenrakuError):
    code = "FORBIDDEN"
    message = "You are not allowed to do this."


class NotFound(RenrakuError):
    code = "NOT_FOUND"
    message = NOT_FOUND_MESSAGE

    def __init__(self) -> None:
        # Always the same message, so that existence never leaks through wording.
        super().__init__(NOT_FOUND_MESSAGE)


class BadInput(RenrakuError):
    code = "BAD_USER_INPUT"
    message = "The input is not valid."

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def extensions(self) -> dict[str, Any]:
        ext = super().extensions
        if self.field is not None:
            ext["field"] = self.field
        return ext


class RateLimited(RenrakuError):
    code = "RATE_LIMITED"
    message = "Too many attempts. Wait and try again."

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many attempts. Try again in {retry_after} seconds.")
        self.retry_after = retry_after

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "retryAfter": self.retry_after}
