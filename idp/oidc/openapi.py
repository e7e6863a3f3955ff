"""The OpenAPI 3.1 description of every public endpoint, written as data.

PSC publishes no such document; this one exists so that fuzzers (schemathesis) and API
tools can drive the mock, and so that every answer is documented: an OAuth error as
Keycloak words it, a French HTML page for people, an OperationOutcome for FHIR. The
control API has its own document (:mod:`idp.control.openapi`); both are served under
``/_mock``.
"""

from __future__ import annotations

from typing import Any

from idp.settings import REALM_PATH, Settings

OIDC = REALM_PATH + "/protocol/openid-connect"
ACTIONS = REALM_PATH + "/login-actions"
FORM = "application/x-www-form-urlencoded"
CLIENT_IDS = ["psc-mock-demo", "psc-mock-ci", "psc-mock-post", "psc-mock-ciba", "psc-mock-service"]
GRANT_TYPES = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:openid:params:grant-type:ciba",
]
_TEXT = {"type": "string"}
_OPEN = {"type": "object"}


def _one_of_or_any(values: list[str]) -> dict[str, Any]:
    """Known values (so generated requests get past the first check) or any text."""
    return {"anyOf": [{"type": "string", "enum": values}, _TEXT]}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


OAUTH_ERROR = {"description": "OAuth error, as Keycloak words it", **_json(_ref("OAuthError"))}
PAGE = {"description": "a French page for people", **_json(_TEXT, "text/html")}
REDIRECT = {
    "description": "to the client's registered redirect URI, or to the next page",
    "headers": {"Location": {"schema": _TEXT}},
}
OUTCOME = {
    "description": "FHIR OperationOutcome",
    **_json(_ref("OperationOutcome"), "application/fhir+json"),
}


def _query(names: dict[str, dict[str, Any]], required: tuple[str, ...] = ()) -> list[dict]:
    return [
        {"name": name, "in": "query", "required": name in required, "schema": schema}
        for name, schema in names.items()
    ]


def _path(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": _TEXT} for n in names]


def _form(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    schema = {"type": "object", "properties": fields}
    return {"required": False, "content": {FORM: {"schema": schema}}}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


_AUTHORIZE = {
    "response_type": _one_of_or_any(["code"]),
    "client_id": _one_of_or_any(CLIENT_IDS),
    "redirect_uri": _one_of_or_any(["http://localhost:9999/callback"]),
    "scope": _one_of_or_any(["openid scope_all"]),
    "acr_values": _one_of_or_any(["eidas1"]),
    "state": _TEXT,
    "nonce": _TEXT,
    "login_hint": _one_of_or_any(["899700100011", "899700100029"]),
    "prompt": _one_of_or_any(["none", "login", "consent"]),
    "max_age": _TEXT,
    "code_challenge": _TEXT,
    "code_challenge_method": _one_of_or_any(["S256", "plain"]),
    "response_mode": _one_of_or_any(["query", "form_post", "fragment"]),
}
_CLIENT_AUTH = {"client_id": _one_of_or_any(CLIENT_IDS), "client_secret": _TEXT}
_TOKEN = {
    "grant_type": _one_of_or_any(GRANT_TYPES),
    "code": _TEXT,
    "redirect_uri": _TEXT,
    "code_verifier": _TEXT,
    "refresh_token": _TEXT,
    "auth_req_id": _TEXT,
    "scope": _TEXT,
    **_CLIENT_AUTH,
}
_CIBA = {
    "scope": _one_of_or_any(["openid scope_all"]),
    "acr_values": _one_of_or_any(["eidas1"]),
    "login_hint": _one_of_or_any(["899700100011", "899700100029"]),
    "binding_message": _TEXT,
    "channel": _one_of_or_any(["MOBILE", "CARD"]),
    "requested_expiry": _TEXT,
    "client_notification_token": _TEXT,
    **_CLIENT_AUTH,
}
_TOKEN_PARAMETER = {"token": _TEXT, "token_type_hint": _TEXT, **_CLIENT_AUTH}
_LOGOUT = {
    "id_token_hint": _TEXT,
    "post_logout_redirect_uri": _TEXT,
    "state": _TEXT,
    "client_id": _one_of_or_any(CLIENT_IDS),
    "ui_locales": _TEXT,
}
_TAB = _query({"tab_id": _TEXT})
_CLIENT_SECURITY = [{}, {"basic": []}]
_BEARER = {"name": "Authorization", "in": "header", "required": False, "schema": _TEXT}


def _oidc_paths() -> dict[str, Any]:
    authorize = {
        "get": _op(
            "Authorization (code flow)",
            {"302": REDIRECT, "400": PAGE},
            parameters=_query(_AUTHORIZE),
        ),
        "post": _op(
            "Authorization, form-posted",
            {"302": REDIRECT, "400": PAGE},
            requestBody=_form(_AUTHORIZE),
        ),
    }
    discovery = {
        "get": _op("Discovery document", {"200": {"description": "metadata", **_json(_OPEN)}})
    }
    userinfo_responses = {
        "200": {"description": "PSC's claims", **_json(_OPEN)},
        "401": OAUTH_ERROR,
        "403": OAUTH_ERROR,
    }
    client_call = {
        "200": {"description": "the answer", **_json(_OPEN)},
        "400": OAUTH_ERROR,
        "401": OAUTH_ERROR,
    }
    return {
        REALM_PATH + "/.well-known/wallet-openid-configuration": discovery,
        REALM_PATH + "/.well-known/openid-configuration": discovery,
        OIDC + "/certs": {"get": _op("JWKS", {"200": {"description": "keys", **_json(_OPEN)}})},
        "/auth": authorize,
        OIDC + "/auth": authorize,
        OIDC + "/token": {
            "post": _op("Token", client_call, requestBody=_form(_TOKEN), security=_CLIENT_SECURITY)
        },
        OIDC + "/ext/ciba/auth": {
            "post": _op(
                "CIBA backchannel authentication (poll)",
                client_call,
                requestBody=_form(_CIBA),
                security=_CLIENT_SECURITY,
            )
        },
        OIDC + "/userinfo": {
            "get": _op("UserInfo", userinfo_responses, parameters=[_BEARER]),
            "post": _op("UserInfo, posted", userinfo_responses, parameters=[_BEARER]),
        },
        OIDC + "/token/introspect": {
            "post": _op(
                "Introspection (RFC 7662)",
                client_call,
                requestBody=_form(_TOKEN_PARAMETER),
                security=_CLIENT_SECURITY,
            )
        },
        OIDC + "/revoke": {
            "post": _op(
                "Revocation (RFC 7009)",
                client_call,
                requestBody=_form(_TOKEN_PARAMETER),
                security=_CLIENT_SECURITY,
            )
        },
        OIDC + "/logout": {
            "get": _op(
                "RP-initiated logout",
                {"200": PAGE, "302": REDIRECT, "400": PAGE},
                parameters=_query(_LOGOUT),
            ),
            "post": _op(
                "RP-initiated logout, posted",
                {"200": PAGE, "302": REDIRECT, "400": PAGE},
                requestBody=_form({**_LOGOUT, "confirm": _TEXT}),
            ),
        },
    }


def _page_paths() -> dict[str, Any]:
    # 403: a step of a login begun in another browser (the AUTH_SESSION_ID cookie)
    page = {"200": PAGE, "302": REDIRECT, "400": PAGE, "403": PAGE, "404": PAGE}
    return {
        ACTIONS + "/authenticate": {
            "get": _op("Login page (e-CPS tab)", page, parameters=_TAB),
            "post": _op(
                "Identifier typed",
                page,
                parameters=_TAB,
                requestBody=_form({"id_nat": _TEXT, "remember": _TEXT, "csrf": _TEXT}),
            ),
        },
        ACTIONS + "/ecps": {"get": _op("Pending approval page", page, parameters=_TAB)},
        ACTIONS + "/ecps/status": {
            "get": _op(
                "Pending approval status, for the page's script",
                {
                    "200": {"description": "status", **_json(_OPEN)},
                    "403": {"description": "another browser's login", **_json(_OPEN)},
                    "404": {"description": "gone", **_json(_OPEN)},
                },
                parameters=_TAB,
            )
        },
        ACTIONS + "/cancel": {"get": _op("Cancel a login", page, parameters=_TAB)},
        ACTIONS + "/card": {
            "get": _op(
                "Login page (Carte CPS tab)",
                page,
                parameters=_query({"tab_id": _TEXT, "serial": _TEXT}),
            ),
            "post": _op(
                "Card and PIN",
                {**page, "401": PAGE, "403": PAGE, "423": PAGE},
                parameters=_TAB,
                requestBody=_form(
                    {"serial": _TEXT, "other_serial": _TEXT, "pin": _TEXT, "csrf": _TEXT}
                ),
            ),
        },
        ACTIONS + "/card-tls": {
            "get": _op(
                "Card login by TLS client certificate", {**page, "403": PAGE}, parameters=_TAB
            )
        },
        "/phone/": {
            "get": _op(
                "Phone simulator: pick an identity", page, parameters=_query({"id_nat": _TEXT})
            )
        },
        "/phone/{idNat}": {"get": _op("Phone simulator", page, parameters=_path("idNat"))},
        "/phone/{idNat}/approvals/{approvalId}": {
            "post": _op(
                "Approve or refuse",
                {**page, "409": PAGE},
                parameters=_path("idNat", "approvalId"),
                requestBody=_form(
                    {
                        "password": _TEXT,
                        "code": _TEXT,
                        "action": _one_of_or_any(["approve", "refuse"]),
                        "csrf": _TEXT,
                    }
                ),
            )
        },
        "/phone/{idNat}/activation": {
            "get": _op(
                "e-CPS activation: the means open to this person", page, parameters=_path("idNat")
            )
        },
        "/phone/{idNat}/activation/{step}": {
            "post": _op(
                "an activation step (mail-sms, codes, card, password)",
                {**page, "403": PAGE},
                parameters=_path("idNat", "step"),
                requestBody=_form(
                    {
                        name: _TEXT
                        for name in (
                            "csrf",
                            "mail_code",
                            "sms_code",
                            "serial",
                            "pin",
                            "password",
                            "confirmation",
                        )
                    }
                ),
            )
        },
        "/reader/": {"get": _op("Card-reader simulator: inserted cards", page)},
        "/reader/{serial}": {"get": _op("Card-reader simulator", page, parameters=_path("serial"))},
        "/reader/{serial}/approvals/{approvalId}": {
            "post": _op(
                "Approve a CIBA CARD request with the PIN",
                {**page, "401": PAGE, "403": PAGE, "409": PAGE, "423": PAGE},
                parameters=_path("serial", "approvalId"),
                requestBody=_form({"pin": _TEXT, "action": _TEXT, "csrf": _TEXT}),
            )
        },
        "/reader/{serial}/unblock": {
            "post": _op(
                "Unblock a locked card: PUK and a new PIN",
                page,
                parameters=_path("serial"),
                requestBody=_form(
                    {"puk": _TEXT, "new_pin": _TEXT, "new_pin_again": _TEXT, "csrf": _TEXT}
                ),
            )
        },
        "/pki/crl/": {"get": _op("CRL index", {"200": PAGE, "404": PAGE})},
        "/pki/crl/{slug}.crl": {
            "get": _op(
                "A test authority's CRL (DER)",
                {
                    "200": {"description": "CRL", **_json(_TEXT, "application/pkix-crl")},
                    "404": PAGE,
                },
                parameters=_path("slug"),
            )
        },
        "/pki/ca-bundle.pem": {
            "get": _op(
                "Test authorities (PEM)",
                {
                    "200": {"description": "PEM", **_json(_TEXT, "application/x-pem-file")},
                    "404": PAGE,
                },
            )
        },
        "/_mock/health/live": {
            "get": _op("Liveness", {"200": {"description": "up", **_json(_OPEN)}})
        },
        "/_mock/health/ready": {
            "get": _op(
                "Readiness",
                {
                    "200": {"description": "ready", **_json(_OPEN)},
                    "503": {"description": "not ready", **_json(_OPEN)},
                },
            )
        },
    }


def _fhir_paths(base: str) -> dict[str, Any]:
    answers = {
        "200": {"description": "resource or Bundle", **_json(_OPEN, "application/fhir+json")}
    }
    answers |= {status: OUTCOME for status in ("400", "401", "403", "404", "405", "406")}
    kind = [
        {
            "name": "type",
            "in": "path",
            "required": True,
            "schema": {
                "type": "string",
                "enum": ["Practitioner", "PractitionerRole", "Organization"],
            },
        }
    ]
    search = _query(
        {
            name: _TEXT
            for name in (
                "name",
                "family",
                "given",
                "identifier",
                "_id",
                "active",
                "_count",
                "_include",
                "_revinclude",
                "_format",
                "_pretty",
                "_elements",
                "_summary",
            )
        }
    )
    return {
        base + "/metadata": {"get": _op("CapabilityStatement", answers)},
        base + "/{type}": {"get": _op("Search", answers, parameters=kind + search)},
        base + "/{type}/_search": {
            "post": _op(
                "Search, posted",
                answers,
                parameters=kind,
                requestBody=_form({"name": _TEXT, "identifier": _TEXT, "_count": _TEXT}),
            )
        },
        base + "/{type}/{id}": {"get": _op("Read", answers, parameters=kind + _path("id"))},
    }


def document(settings: Settings, base_url: str) -> dict[str, Any]:
    """The document for a mock whose public base URL is ``base_url``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "psc-mock public endpoints",
            "version": "1",
            "description": "Pro Santé Connect's endpoints as psc-mock serves them, with the "
            "mock's pages and the Annuaire Santé FHIR API. Every refusal is an OAuth error, "
            "a French page or an OperationOutcome.",
        },
        "servers": [{"url": base_url}],
        "paths": _oidc_paths() | _page_paths() | _fhir_paths(settings.fhir_path),
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "OAuthError": {
                    "type": "object",
                    "properties": {"error": _TEXT, "error_description": _TEXT},
                    "required": ["error"],
                },
                "OperationOutcome": {
                    "type": "object",
                    "properties": {
                        "resourceType": {"const": "OperationOutcome"},
                        "issue": {"type": "array"},
                    },
                    "required": ["resourceType", "issue"],
                },
            },
        },
    }
