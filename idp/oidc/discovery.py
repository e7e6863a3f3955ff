"""The discovery document: PSC's own (reference §1.1) with the hosts replaced, quirks
included, or an accurate one that advertises only what the mock implements.

Browser-facing endpoints use the public URL; server-to-server ones use the back-channel
URL, as Keycloak does with separate frontend and back-channel hostnames.
"""

from __future__ import annotations

from typing import Any

from idp.settings import Settings

OIDC_PATH = "/protocol/openid-connect"

SCOPES_SUPPORTED = (
    "openid",
    "microprofile-jwt",
    "rpps",
    "referentiel",
    "web-origins",
    "basic",
    "identity",
    "acr",
    "offline_access",
    "eidas1",
    "profile",
    "roles",
    "email",
    "scope_all",
    "phone",
    "interop",
    "scope_1",
    "address",
    "scope_2",
    "eidas2",
)
_SIGNING_ALGS = (
    "PS384",
    "ES384",
    "RS384",
    "HS256",
    "HS512",
    "ES256",
    "RS256",
    "HS384",
    "ES512",
    "PS256",
    "PS512",
    "RS512",
    "EdDSA",
)
_ENC_ALGS = ("RSA-OAEP", "RSA-OAEP-256", "RSA1_5")
_ENC_ENCS = ("A256GCM", "A192GCM", "A128GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512")


def endpoints(settings: Settings) -> dict[str, str]:
    front = settings.issuer + OIDC_PATH
    back = settings.backchannel_issuer_base + OIDC_PATH
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": settings.effective_public_url + "/auth",
        "token_endpoint": back + "/token",
        "introspection_endpoint": back + "/token/introspect",
        "userinfo_endpoint": back + "/userinfo",
        "end_session_endpoint": front + "/logout",
        "jwks_uri": back + "/certs",
        "check_session_iframe": front + "/login-status-iframe.html",
        "registration_endpoint": settings.backchannel_issuer_base
        + "/clients-registrations/openid-connect",
        "revocation_endpoint": back + "/revoke",
        "device_authorization_endpoint": back + "/auth/device",
        "backchannel_authentication_endpoint": back + "/ext/ciba/auth",
        "pushed_authorization_request_endpoint": back + "/ext/par/request",
    }


def psc_document(settings: Settings) -> dict[str, Any]:
    """PSC's BAS document (copy in ANS's EDC proxy), hosts replaced."""
    urls = endpoints(settings)
    mtls_aliases = {
        name: urls[name]
        for name in (
            "token_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
            "device_authorization_endpoint",
            "registration_endpoint",
            "userinfo_endpoint",
            "pushed_authorization_request_endpoint",
            "backchannel_authentication_endpoint",
        )
    }
    return {
        **urls,
        "grant_types_supported": [
            "authorization_code",
            "implicit",
            "refresh_token",
            "password",
            "client_credentials",
            "urn:openid:params:grant-type:ciba",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "acr_values_supported": ["0", "0"],
        "response_types_supported": [
            "code",
            "none",
            "id_token",
            "token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token",
        ],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(_SIGNING_ALGS),
        "id_token_encryption_alg_values_supported": list(_ENC_ALGS),
        "id_token_encryption_enc_values_supported": list(_ENC_ENCS),
        "userinfo_signing_alg_values_supported": [*_SIGNING_ALGS, "none"],
        "request_object_signing_alg_values_supported": [*_SIGNING_ALGS, "none"],
        "request_object_encryption_alg_values_supported": list(_ENC_ALGS),
        "request_object_encryption_enc_values_supported": list(_ENC_ENCS),
        "response_modes_supported": [
            "query",
            "fragment",
            "form_post",
            "query.jwt",
            "fragment.jwt",
            "form_post.jwt",
            "jwt",
        ],
        "token_endpoint_auth_methods_supported": [
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
            "tls_client_auth",
            "client_secret_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": list(_SIGNING_ALGS),
        "introspection_endpoint_auth_methods_supported": [
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
            "tls_client_auth",
            "client_secret_jwt",
        ],
        "introspection_endpoint_auth_signing_alg_values_supported": list(_SIGNING_ALGS),
        "authorization_signing_alg_values_supported": list(_SIGNING_ALGS),
        "authorization_encryption_alg_values_supported": list(_ENC_ALGS),
        "authorization_encryption_enc_values_supported": list(_ENC_ENCS),
        "claims_supported": [
            "aud",
            "sub",
            "iss",
            "auth_time",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "email",
            "acr",
        ],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "scopes_supported": list(SCOPES_SUPPORTED),
        "request_parameter_supported": True,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": True,
        "code_challenge_methods_supported": ["plain", "S256"],
        "tls_client_certificate_bound_access_tokens": True,
        "revocation_endpoint_auth_methods_supported": [
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
            "tls_client_auth",
            "client_secret_jwt",
        ],
        "revocation_endpoint_auth_signing_alg_values_supported": list(_SIGNING_ALGS),
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        "backchannel_token_delivery_modes_supported": ["poll", "ping"],
        "backchannel_authentication_request_signing_alg_values_supported": [
            "PS384",
            "ES384",
            "RS384",
            "ES256",
            "RS256",
            "ES512",
            "PS256",
            "PS512",
            "RS512",
        ],
        "require_pushed_authorization_requests": False,
        "mtls_endpoint_aliases": mtls_aliases,
        "authorization_response_iss_parameter_supported": True,
    }


def accurate_document(settings: Settings) -> dict[str, Any]:
    """Only what this mock really does, so a strict client sees no false promise."""
    urls = endpoints(settings)
    implemented = (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "introspection_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "backchannel_authentication_endpoint",
    )
    return {
        **{name: urls[name] for name in implemented},
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:openid:params:grant-type:ciba",
        ],
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_user_code_parameter_supported": False,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": _auth_methods(settings),
        "introspection_endpoint_auth_methods_supported": _auth_methods(settings),
        "revocation_endpoint_auth_methods_supported": _auth_methods(settings),
        **_mtls(settings, urls),
        "userinfo_signing_alg_values_supported": ["RS256"],
        "acr_values_supported": ["eidas1"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "sid",
            "given_name",
            "family_name",
            "preferred_username",
            "SubjectNameID",
            "authMode",
            "otherIds",
            "SubjectRefPro",
            "SubjectRole",
        ],
        "scopes_supported": ["openid", "scope_all"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
    }


def _auth_methods(settings: Settings) -> list[str]:
    methods = ["client_secret_basic", "client_secret_post"]
    return [*methods, "tls_client_auth"] if settings.tls_port >= 0 else methods


def _mtls(settings: Settings, urls: dict[str, str]) -> dict[str, Any]:
    """With the TLS listener on: RFC 8705's bound tokens and the endpoints' mTLS aliases."""
    if settings.tls_port < 0:
        return {}
    front = settings.effective_tls_url
    aliases = {
        name: front + urls[name][len(settings.effective_backchannel_url) :]
        for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint",
                     "userinfo_endpoint", "backchannel_authentication_endpoint")
    }  # fmt: skip
    return {"tls_client_certificate_bound_access_tokens": True, "mtls_endpoint_aliases": aliases}


def document(settings: Settings) -> dict[str, Any]:
    return (
        accurate_document(settings) if settings.discovery == "accurate" else psc_document(settings)
    )
