"""HTTP-level errors and their NeutronError responses: every failure leaves as a NeutronError body."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from steerflow.api.errors import HTTPBadRequest, NeutronError, ServiceUnavailable
from steerflow.nbdb.api import StoreError

LOG = logging.getLogger(__name__)


class HTTPNotFound(NeutronError):
    """No such route (Neutron's routing answers webob's HTTPNotFound)."""

    status = 404
    template = "The resource could not be found."


class HTTPMethodNotAllowed(NeutronError):
    """A method the path does not have (Neutron says so with its 400 text; we name the method)."""

    status = 405
    template = "The method %(method)s is not allowed for this resource."


class HTTPRequestEntityTooLarge(NeutronError):
    status = 413
    template = "Request is too large."


class HTTPInternalServerError(NeutronError):
    status = 500
    template = "Request Failed: internal server error while processing your request."


class ExtensionNotFound(NeutronError):
    status = 404
    template = "Extension with alias %(alias)s does not exist"


def error_response(err: NeutronError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


def as_neutron_error(exc: BaseException) -> NeutronError:
    """The NeutronError an exception is reported as; unexpected ones become a logged 500."""
    if isinstance(exc, NeutronError):
        return exc
    if isinstance(exc, StoreError):
        LOG.warning("northbound store failure: %s", exc)
        return ServiceUnavailable(reason="the northbound store is unavailable")
    LOG.error("unexpected error while serving a request", exc_info=exc)
    return HTTPInternalServerError()


def _http_error(status: int, method: str) -> NeutronError:
    if status == 404:
        return HTTPNotFound()
    if status == 405:
        return HTTPMethodNotAllowed(method=method)
    if status == 413:
        return HTTPRequestEntityTooLarge()
    if 400 <= status < 500:
        return HTTPBadRequest("The request could not be processed.")
    return HTTPInternalServerError()


async def _on_neutron_error(_request: Request, exc: Exception) -> Response:
    return error_response(as_neutron_error(exc))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(_http_error(exc.status_code, request.method), headers)


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    return error_response(HTTPBadRequest("Invalid request: malformed parameters."))


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception the app can raise to a NeutronError response."""
    app.add_exception_handler(NeutronError, _on_neutron_error)
    app.add_exception_handler(StoreError, _on_neutron_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_neutron_error)
