"""`/docs`: the Swagger UI page of the OpenAPI document, with its assets served by the app (no CDN).

The assets (Swagger UI 5, which renders OpenAPI 3.1) come from the `fastapi-swagger` package, which
ships the latest swagger-ui-dist build; we serve its files ourselves and write the page with FastAPI's
template, every URL local, so the page works on a machine without internet.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import Response

from steerflow.rest.errors import HTTPNotFound, error_response

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
ASSETS_PACKAGE = "fastapi_swagger"
# name -> media type: the only files the page loads
ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
UI_PARAMETERS = {
    "deepLinking": True,
    "validatorUrl": None,  # Swagger UI would otherwise send the document to validator.swagger.io
    "displayRequestDuration": True,
}


@cache
def asset(name: str) -> bytes:
    """One bundled Swagger UI file (read once)."""
    return (resources.files(ASSETS_PACKAGE) / "resources" / name).read_bytes()


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve the Swagger UI page at /docs and its assets under /docs/assets/ (no token needed)."""

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
            swagger_ui_parameters=UI_PARAMETERS,
        )

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    async def swagger_asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            return error_response(HTTPNotFound())
        return Response(asset(name), media_type=media_type, headers={"Cache-Control": "max-age=86400"})
