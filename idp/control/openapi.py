"""The control API's OpenAPI 3.1 document, written as data."""

from __future__ import annotations

from typing import Any

from idp.control.hooks import FAULT_ENDPOINTS
from idp.control.tampering import CHANGES

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    "required": ["error"],
}
_OBJECT = {"type": "object"}
_HTML = {"description": "a page", "content": {"text/html": {"schema": {"type": "string"}}}}
_DURATION = {
    "oneOf": [{"type": "number"}, {"type": "string", "examples": ["90s", "30m", "4h", "1h30m"]}]
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, **(_json(schema) if schema else {})}


_ERRORS = {
    "400": {"description": "invalid input", **_json({"$ref": "#/components/schemas/Error"})},
    "401": {"description": "off loopback without the admin token", **_json(_ERROR)},
    "403": {"description": "foreign Host, or no admin token configured", **_json(_ERROR)},
    "415": {"description": "a write that is not application/json", **_json(_ERROR)},
}
_ID_NAT = {
    "name": "idNat",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "the professional's idNat (slashes allowed, e.g. 3…/CPET00001)",
}
_ENDPOINT = {
    "name": "endpoint",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": list(FAULT_ENDPOINTS)},
}


def _op(summary: str, responses: dict[str, Any], body: dict | None = None, **extra) -> dict:
    operation: dict[str, Any] = {"summary": summary, "responses": {**responses, **_ERRORS}}
    if body is not None:
        operation["requestBody"] = {"required": False, **_json(body)}
    operation.update(extra)
    return operation


_SCENARIO = {
    "type": "object",
    "description": "An identity's entry in credentials.yaml, as JSON: the fields given "
    "override the fixtures until deleted or reset.",
    "properties": {
        "policy": {"type": "string", "enum": ["manual", "auto", "deny", "timeout"]},
        "delay": {"type": "number", "minimum": 0, "description": "auto approves this late"},
        "claims": {
            "type": "object",
            "properties": {
                "drop": {"type": "array", "items": {"type": "string"}},
                "set": {"type": "object"},
            },
        },
        "registered": {"type": "string"},
        "ecps": {
            "type": "object",
            "properties": {"activated": {"type": "boolean"}, "password": {"type": "string"}},
        },
        "order": _OBJECT,
        "cards": {"type": "array", "items": _OBJECT},
    },
    "additionalProperties": False,
}
_FAULT = {
    "type": "object",
    "properties": {
        "status": {"type": "integer", "minimum": 200, "maximum": 599},
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "delay": _DURATION,
        "times": {"type": "integer", "minimum": 1, "description": "absent: until cleared"},
    },
    "additionalProperties": False,
}
_TAMPERING = {
    "type": "object",
    "properties": {
        "change": {"type": "array", "items": {"type": "string", "enum": list(CHANGES)}},
        "drop": {"type": "array", "items": {"type": "string"}},
        "set": {"type": "object"},
        "tokens": {
            "type": "array",
            "items": {"type": "string", "enum": ["access_token", "id_token"]},
        },
        "times": {"type": "integer", "minimum": 1, "description": "absent: until cleared"},
    },
    "additionalProperties": False,
}
_CLOCK = {
    "type": "object",
    "properties": {
        "now": {"type": "number"},
        "now_iso": {"type": "string"},
        "frozen": {"type": "boolean"},
        "offset": {"type": "number"},
    },
}
_REQUEST = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "time": {"type": "number"},
        "method": {"type": "string"},
        "path": {"type": "string"},
        "endpoint": {"type": "string"},
        "params": {"type": "object", "description": "secrets masked as ***"},
        "client_id": {"type": ["string", "null"]},
        "status": {"type": "integer"},
        "error": {"type": ["string", "null"]},
    },
}
_FILTERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("endpoint", "method", "client_id", "status", "path")
]
_KEYS = {
    "type": "object",
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kid": {"type": "string"},
                    "current": {"type": "boolean"},
                    "retired_until": {"type": ["number", "null"]},
                },
            },
        }
    },
}


def document(settings) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "psc-mock control API",
            "version": "1",
            "description": "Put the mock into any state PSC can be in, and back. Open on "
            "loopback; elsewhere `Authorization: Bearer <PSC_MOCK_ADMIN_TOKEN>`. JSON only.",
        },
        "servers": [{"url": settings.effective_public_url}],
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Scenario": _SCENARIO,
                "Fault": _FAULT,
                "Tampering": _TAMPERING,
            },
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"admin": []}],
        "paths": {
            "/_mock/clock": {
                "get": _op("the mock clock", {"200": _ok("clock", _CLOCK)}),
                "post": _op(
                    "freeze (optionally at), advance by a duration, resume, reset",
                    {"200": _ok("clock", _CLOCK)},
                    {
                        "type": "object",
                        "properties": {
                            "action": {
                                "type": "string",
                                "enum": ["freeze", "advance", "resume", "reset"],
                            },
                            "by": _DURATION,
                            "at": {"oneOf": [{"type": "number"}, {"type": "string"}]},
                        },
                        "required": ["action"],
                    },
                ),
            },
            "/_mock/scenarios": {
                "get": _op("every scenario", {"200": _ok("idNat -> scenario", _OBJECT)}),
                "delete": _op("clear every scenario", {"204": _ok("cleared")}),
            },
            "/_mock/scenarios/{idNat}": {
                "parameters": [_ID_NAT],
                "get": _op(
                    "an identity's scenario and effective values", {"200": _ok("", _OBJECT)}
                ),
                "put": _op(
                    "set an identity's scenario",
                    {"200": _ok("stored", _OBJECT), "404": _ok("unknown idNat", _ERROR)},
                    {"$ref": "#/components/schemas/Scenario"},
                ),
                "delete": _op("clear it", {"204": _ok("cleared")}),
            },
            "/_mock/faults": {
                "get": _op("every fault", {"200": _ok("endpoint -> fault", _OBJECT)}),
                "delete": _op("clear every fault", {"204": _ok("cleared")}),
            },
            "/_mock/faults/{endpoint}": {
                "parameters": [_ENDPOINT],
                "put": _op(
                    "inject a fault for the next `times` calls (or until cleared)",
                    {"200": _ok("stored", _OBJECT)},
                    {"$ref": "#/components/schemas/Fault"},
                ),
                "delete": _op("clear it", {"204": _ok("cleared")}),
            },
            "/_mock/requests": {
                "get": _op(
                    "the request log",
                    {
                        "200": _ok(
                            "",
                            {
                                "type": "object",
                                "properties": {"requests": {"type": "array", "items": _REQUEST}},
                            },
                        )
                    },
                    parameters=_FILTERS,
                ),
                "delete": _op("clear it", {"204": _ok("cleared")}),
            },
            "/_mock/requests/next": {
                "get": _op(
                    "the next request not yet taken, waiting up to `timeout` seconds",
                    {"200": _ok("a request", _REQUEST), "204": _ok("none within timeout")},
                    parameters=[
                        {"name": "timeout", "in": "query", "schema": {"type": "number"}},
                        *_FILTERS,
                    ],
                ),
            },
            "/_mock/tampering": {
                "get": _op("the tampering in force, or null", {"200": _ok("", _OBJECT)}),
                "put": _op(
                    "tamper with the next tokens (`times`, absent: until cleared)",
                    {"200": _ok("stored", _OBJECT)},
                    {"$ref": "#/components/schemas/Tampering"},
                ),
                "delete": _op("stop tampering", {"204": _ok("cleared")}),
            },
            "/_mock/tokens": {
                "post": _op(
                    "a PSC token set for a professional without a flow (a real session)",
                    {
                        "200": _ok("the token response", _OBJECT),
                        "404": _ok("unknown idNat", _ERROR),
                    },
                    {
                        "type": "object",
                        "properties": {
                            "id_nat": {"type": "string"},
                            "client_id": {"type": "string"},
                            "means": {"type": "string", "enum": ["MOBILE", "CARD"]},
                            "scope": {"type": "string"},
                            "nonce": {"type": "string"},
                            "change": _TAMPERING["properties"]["change"],
                            "drop": {"type": "array", "items": {"type": "string"}},
                            "set": _OBJECT,
                            "tokens": _TAMPERING["properties"]["tokens"],
                        },
                        "required": ["id_nat"],
                    },
                ),
            },
            "/_mock/keys": {"get": _op("published signing keys", {"200": _ok("", _KEYS)})},
            "/_mock/keys/rotate": {
                "post": _op(
                    "a new current key; the previous ones stay published for `retention`",
                    {"200": _ok("", _KEYS)},
                    {
                        "type": "object",
                        "properties": {"retention": _DURATION, "pem": {"type": "string"}},
                    },
                ),
            },
            "/_mock/directory/{idNat}": {
                "parameters": [_ID_NAT],
                "get": _op("a professional, in the model's shape", {"200": _ok("", _OBJECT)}),
                "put": _op(
                    "add or replace a professional (the loaders' rules apply)",
                    {"200": _ok("replaced", _OBJECT), "201": _ok("added", _OBJECT)},
                    _OBJECT,
                ),
                "delete": _op("remove a professional", {"204": _ok("removed")}),
            },
            "/_mock/directory": {
                "get": _op(
                    "search: name or idNat words (`q`), `profession`, `role`, `departement`",
                    {"200": _ok("summaries", _OBJECT)},
                    parameters=[
                        {"name": n, "in": "query", "schema": {"type": "string"}}
                        for n in ("q", "profession", "role", "departement", "limit")
                    ],
                )
            },
            "/_mock/directory/{idNat}/claims": {
                "parameters": [_ID_NAT],
                "get": _op(
                    "userinfo as PSC would send it after a login, with the mock's facts",
                    {"200": _ok("", _OBJECT), "404": _ok("unknown idNat", _ERROR)},
                ),
            },
            "/_mock/approvals": {"get": _op("pending e-CPS approvals", {"200": _ok("", _OBJECT)})},
            "/_mock/sessions": {"get": _op("live SSO sessions", {"200": _ok("", _OBJECT)})},
            "/_mock/training": {
                "get": _op("the trainees' identities", {"200": _ok("", _OBJECT)}),
                "post": _op(
                    "hand `count` more trainees each a distinct identity (until reset)",
                    {"200": _ok("every trainee's sheet", _OBJECT)},
                    {
                        "type": "object",
                        "properties": {
                            "count": {"type": "integer", "minimum": 1, "maximum": 200},
                            "q": {"type": "string"},
                            "profession": {"type": "string"},
                        },
                        "required": ["count"],
                    },
                ),
            },
            "/_mock/ui/": {"get": _op("the trainer dashboard (HTML)", {"200": _HTML})},
            "/_mock/ui/sheets": {"get": _op("printable identity sheets (HTML)", {"200": _HTML})},
            "/_mock/reset": {
                "post": _op("back to the fixtures", {"200": _ok("", _OBJECT)}, _OBJECT),
            },
            "/_mock/openapi.json": {"get": _op("this document", {"200": _ok("", _OBJECT)})},
            "/_mock/openapi-public.json": {
                "get": _op("the public endpoints' document", {"200": _ok("", _OBJECT)})
            },
        },
    }
