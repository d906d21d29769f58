"""The base of every catalogued error: an OCI error code, an HTTP status and a message."""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """An error with an OCI error code, an HTTP status and a message for humans."""

    code = "UNKNOWN"
    status = 500
    default_message = "unknown error"

    def __init__(
        self,
        message: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.detail = detail
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}
