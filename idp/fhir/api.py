"""The Annuaire Santé FHIR API's HTTP side: ``{fhir_path}/metadata``, ``/{type}``,
``/{type}/{id}`` and ``/{type}/_search`` (POST, as the real gateway), JSON only.

As the real gateway, every request must carry a configured key in the ``ESANTE-API-KEY``
header when keys are configured (``fhir_api_keys``); errors are OperationOutcomes with
HAPI's statuses (400 bad parameter, 401 no key, 404 unknown resource or id, 405 method,
406 format).
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from idp.context import EXTENSION

HEADER = "ESANTE-API-KEY"
CONTENT_TYPE = "application/fhir+json; charset=utf-8"
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class _FhirBlueprint(Blueprint):
    """Mounted where the settings say (``fhir_path``), not at a fixed prefix."""

    def register(self, app: Flask, options: dict) -> None:
        path = base_path(app.extensions[EXTENSION].settings.fhir_path)
        if path:  # an empty fhir_path turns the API off
            super().register(app, {**options, "url_prefix": path})


bp = _FhirBlueprint("fhir", __name__)


def base_path(path: str) -> str:
    """The API's path without trailing slash: ``/fhir/v2``."""
    return "/" + path.strip("/") if path.strip("/") else ""


@bp.before_request
def _check_api_key() -> Response | None:
    keys = current_app.extensions[EXTENSION].settings.fhir_api_keys
    if not keys:
        return None
    given = request.headers.get(HEADER, "")
    if any(hmac.compare_digest(given.encode(), key.encode()) for key in keys):
        return None
    reason = "missing" if not given else "unknown"
    return outcome(401, "security", f"Unauthorized: {reason} API key (header {HEADER})", "error")


@bp.errorhandler(Exception)
def _error(error: Exception) -> Response:
    """Even a failure answers FHIR: an OperationOutcome, never an HTML page."""
    if isinstance(error, HTTPException):
        return outcome(error.code or 500, "processing", error.description or error.name)
    current_app.logger.exception("FHIR API: %s %s", request.method, request.full_path)
    return outcome(500, "exception", f"Internal error ({type(error).__name__})")


@bp.before_request
def _check_accept() -> Response | None:
    if _accepts_json():
        return None
    return outcome(406, "not-supported", "This server answers application/fhir+json only")


@bp.route("/", methods=_ALL_METHODS)
@bp.route("/<path:rest>", methods=_ALL_METHODS)
def _unknown(rest: str = "") -> Response:
    from idp.fhir.search import RESOURCE_TYPES

    known = ", ".join(RESOURCE_TYPES)
    name = rest.split("/")[0]
    if name and name not in RESOURCE_TYPES:
        return outcome(
            404,
            "not-supported",
            f"Unknown resource type '{name}' - Server knows how to handle: [{known}]",
        )
    return outcome(
        404,
        "not-found",
        f"No operation at '{request.path}': try /metadata, /{{type}}, /{{type}}/{{id}}",
    )


@bp.route("/metadata", methods=_ALL_METHODS)
def metadata() -> Response:
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed()
    from idp.fhir import capability, search

    try:
        pretty = _result_options(("_format", "_pretty"))
    except search.SearchError as error:
        return outcome(error.status, error.code, error.diagnostics)
    return _send(capability.capability_statement(_base_url(), _settings()), pretty=pretty)


@bp.route(
    "/<any(Practitioner, PractitionerRole, Organization):resource_type>", methods=_ALL_METHODS
)
def search_type(resource_type: str) -> Response:
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed()
    return _search(resource_type, list(request.args.items(multi=True)))


@bp.route(
    "/<any(Practitioner, PractitionerRole, Organization):resource_type>/_search",
    methods=_ALL_METHODS,
)
def search_post(resource_type: str) -> Response:
    if request.method not in ("GET", "HEAD", "POST"):
        return _method_not_allowed()
    parameters = [*request.args.items(multi=True), *request.form.items(multi=True)]
    return _search(resource_type, parameters)


@bp.route(
    "/<any(Practitioner, PractitionerRole, Organization):resource_type>/<resource_id>",
    methods=_ALL_METHODS,
)
def read(resource_type: str, resource_id: str) -> Response:
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed()
    from idp.fhir import search

    try:
        pretty = _result_options(("_format", "_pretty"))
    except search.SearchError as error:
        return outcome(error.status, error.code, error.diagnostics)
    entity = _engine().read(resource_type, resource_id)
    if entity is None:
        return outcome(404, "not-found", f"Resource {resource_type}/{resource_id} is not known")
    return _send(entity.resource, pretty=pretty)


def _search(resource_type: str, parameters: list[tuple[str, str]]) -> Response:
    from idp.fhir import bundle, search

    try:
        query = search.parse(resource_type, parameters, mockdata=_services().mockdata)
        page = _engine().search(query)
    except search.SearchError as error:
        return outcome(error.status, error.code, error.diagnostics)
    base = _base_url()
    kept = [(n, v) for n, v in parameters if n not in ("_after", "_before")]
    links = {"self": _url(base, resource_type, parameters)}
    links["first"] = _url(base, resource_type, kept)
    if page.has_previous and page.matches:
        links["previous"] = _url(base, resource_type, [*kept, ("_before", page.matches[0].id)])
    if page.has_next and page.matches:
        links["next"] = _url(base, resource_type, [*kept, ("_after", page.matches[-1].id)])
    return _send(bundle.searchset(base, page, links), pretty=query.pretty)


def outcome(status: int, code: str, diagnostics: str, severity: str = "error") -> Response:
    from idp.fhir import bundle

    return _send(bundle.operation_outcome(code, diagnostics, severity), status=status)


def _method_not_allowed() -> Response:
    return outcome(
        405, "not-supported", f"{request.method} is not supported: this API is read-only"
    )


def _result_options(allowed: tuple[str, ...]) -> bool:
    """Check a read's parameters (only ``_format`` and ``_pretty``); whether to indent."""
    from idp.fhir import search

    pretty = False
    for name, value in request.args.items(multi=True):
        if name not in allowed:
            raise search.bad_request(f"Parameter '{name}' is not supported here")
        if name == "_format" and value not in search.JSON_FORMATS:
            raise search.SearchError(406, "not-supported", f"Format '{value}' is not supported")
        if name == "_pretty":
            pretty = value == "true"
    return pretty


def _accepts_json() -> bool:
    accept = request.accept_mimetypes
    if not accept:
        return True
    return accept.best_match(["application/fhir+json", "application/json"]) is not None


def _send(resource: Any, *, status: int = 200, pretty: bool = False) -> Response:
    data = resource.model_dump(mode="json", exclude_none=True)
    body = json.dumps(data, ensure_ascii=False, indent=2 if pretty else None)
    return Response(body, status=status, content_type=CONTENT_TYPE)


def _url(base: str, resource_type: str, parameters: list[tuple[str, str]]) -> str:
    query = urlencode(parameters)
    return f"{base}/{resource_type}" + (f"?{query}" if query else "")


def _base_url() -> str:
    """The API's base as the client reached it (honours trusted proxies' headers)."""
    return request.host_url.rstrip("/") + request.script_root + base_path(_settings().fhir_path)


def _services():
    return current_app.extensions[EXTENSION]


def _settings():
    return _services().settings


def _engine():
    from idp.fhir.resources import ResourceBuilder
    from idp.fhir.search import Engine, last_updated

    services = _services()
    mockdata = services.mockdata
    builder = ResourceBuilder(
        restricted=services.settings.fhir_restricted,
        identity=mockdata.identity,
        updated=lambda id_nat: last_updated(mockdata, id_nat),
    )
    return Engine(services.directory, builder)
