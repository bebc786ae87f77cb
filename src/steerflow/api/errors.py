"""Neutron-compatible API errors: the class name is the `type` in the NeutronError body."""

from __future__ import annotations

from typing import Any, ClassVar


class NeutronError(Exception):
    """Base of every error the API reports; `status` is the HTTP code, `template` the message."""

    status: ClassVar[int] = 500
    template: ClassVar[str] = "An unknown exception occurred."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.template % kwargs
            except (KeyError, TypeError, ValueError):
                message = self.template
        self.message = message
        super().__init__(message)

    @property
    def type(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, dict[str, str]]:
        """The JSON body Neutron answers with."""
        return {"NeutronError": {"type": self.type, "message": self.message, "detail": ""}}


class BadRequest(NeutronError):
    status = 400
    template = "Bad %(resource)s request: %(msg)s."


class HTTPBadRequest(NeutronError):
    """Attribute-layer failures (what Neutron's API layer raises as webob HTTPBadRequest)."""

    status = 400
    template = "%(msg)s"


class InvalidInput(BadRequest):
    template = "Invalid input for operation: %(error_message)s."


class NotFound(NeutronError):
    status = 404
    template = "An unknown exception occurred."


class Conflict(NeutronError):
    status = 409
    template = "An unknown exception occurred."


class InUse(NeutronError):
    status = 409
    template = "The resource is in use."


class NotAuthorized(NeutronError):
    status = 403
    template = "Not authorized."


class PolicyNotAuthorized(NotAuthorized):
    template = "Rule %(action)s is disallowed by policy."


class Unauthorized(NeutronError):
    """No or unknown token."""

    status = 401
    template = "Authentication required."


class OverQuota(Conflict):
    template = "Quota exceeded for resources: %(overs)s."


class ServiceUnavailable(NeutronError):
    status = 503
    template = "The service is unavailable: %(reason)s."
