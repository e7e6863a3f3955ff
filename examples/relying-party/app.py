"""A relying party of Pro Santé Connect (or psc-mock) on Authlib's Flask client.

Configured by the environment:

- ``PSC_DISCOVERY_URL``: PSC's discovery document, at its non-standard path
  ``{issuer}/.well-known/wallet-openid-configuration``, fetched by this server (in docker
  compose, the mock's back-channel URL, e.g. ``http://psc-mock:8080/...``);
- ``PSC_CLIENT_ID``, ``PSC_CLIENT_SECRET``: the client registered with PSC;
- ``PSC_REDIRECT_URI``: this application's callback, exactly as registered;
- ``PSC_POST_LOGOUT_REDIRECT_URI`` (default: the redirect URI's ``/``);
- ``RP_SECRET_KEY``: signs Flask's session cookie (default: random, one per process).

Run it with ``flask --app app run --port 8000`` or ``gunicorn 'app:create_app()'``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, redirect, render_template_string, request, session, url_for
from joserfc.errors import JoseError  # Authlib verifies JWTs with joserfc

# Everything that means "no login": PSC's OAuth errors, a token that fails verification,
# PSC unreachable or answering garbage.
LOGIN_ERRORS = (AuthlibBaseError, JoseError, requests.RequestException, ValueError)

# PSC's rules (its documentation): scope_all and acr_values=eidas1 on every request.
SCOPE = "openid scope_all"
ACR = "eidas1"
LEEWAY = 10  # seconds of clock skew tolerated on the id_token (Authlib's default is 120)

# A few codes of TRE_G15 (professions) for display; anything else shows as its code.
PROFESSIONS = {
    "10": "Médecin",
    "21": "Pharmacien",
    "40": "Chirurgien-Dentiste",
    "50": "Sage-Femme",
    "60": "Infirmier",
    "70": "Masseur-Kinésithérapeute",
    "80": "Pédicure-Podologue",
}
MODES = {"L": "libéral", "S": "salarié", "B": "bénévole"}

PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Exemple Pro Santé Connect</title></head>
<body>
<h1>Application d'exemple Pro Santé Connect</h1>
{% if error %}
  <p role="alert">Connexion impossible : <strong>{{ error }}</strong>
  {% if description %}({{ description }}){% endif %}</p>
{% endif %}
{% if profile %}
  <p>Connecté : {{ profile.given_name }} {{ profile.family_name }}</p>
  <dl>
    <dt>SubjectNameID (idNat)</dt><dd id="subject-name-id">{{ profile.SubjectNameID }}</dd>
    <dt>Mode d'authentification</dt><dd>{{ profile.authMode }}</dd>
  </dl>
  <h2>Exercices et activités</h2>
  <ul>
  {% for ex in profile.exercices %}
    <li>{{ ex.profession }} {{ ex.savoir_faire }} ({{ ex.name }})
      <ul>
      {% for act in ex.activities %}
        <li>{{ act.site }}, {{ act.place }} ; {{ act.mode }} ; rôle {{ act.role }}</li>
      {% else %}
        <li>aucune activité</li>
      {% endfor %}
      </ul>
    </li>
  {% else %}
    <li>aucun exercice (SubjectRefPro absent)</li>
  {% endfor %}
  </ul>
  <form method="post" action="{{ url_for('refresh') }}"><button>Rafraîchir</button></form>
  <form method="post" action="{{ url_for('logout') }}"><button>Se déconnecter</button></form>
{% else %}
  <p><a href="{{ url_for('login') }}">Se connecter avec Pro Santé Connect</a></p>
{% endif %}
</body></html>
"""


def _summary(userinfo: Mapping[str, Any]) -> dict[str, Any]:
    """What the page shows, small enough for the session cookie. ``SubjectNameID`` is
    the professional's identifier (idNat); never use ``sub`` for that."""
    exercices = []
    for ex in (userinfo.get("SubjectRefPro") or {}).get("exercices") or []:
        code = ex.get("codeProfession") or ""
        exercices.append(
            {
                "profession": PROFESSIONS.get(code, code or "rôle sans profession"),
                "savoir_faire": ex.get("codeSavoirFaire") or "",
                "name": " ".join(
                    filter(
                        None,
                        (
                            ex.get("codeCiviliteDexercice"),
                            ex.get("prenomDexercice"),
                            ex.get("nomDexercice"),
                        ),
                    )
                ),
                "activities": [
                    {
                        "site": act.get("enseigneCommercialeSite")
                        or act.get("raisonSocialeSite")
                        or "",
                        "place": act.get("bureauCedex") or act.get("codeCommune") or "",
                        "mode": MODES.get(act.get("codeModeExercice"), "")
                        or act.get("codeModeExercice")
                        or "",
                        "role": act.get("codeRole") or "",
                    }
                    for act in ex.get("activities") or []
                ],
            }
        )
    return {
        "SubjectNameID": userinfo.get("SubjectNameID"),
        "given_name": userinfo.get("given_name"),
        "family_name": userinfo.get("family_name"),
        "authMode": userinfo.get("authMode"),
        "exercices": exercices,
    }


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """The application; ``config`` overrides the environment (tests)."""
    env = {**os.environ, **(config or {})}
    redirect_uri = env["PSC_REDIRECT_URI"]
    post_logout = env.get("PSC_POST_LOGOUT_REDIRECT_URI") or urljoin(redirect_uri, "/")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=env.get("RP_SECRET_KEY") or secrets.token_hex(32),
        # Not "session": on localhost, browsers share cookies across ports with the IdP.
        SESSION_COOKIE_NAME="psc_rp_session",
        SESSION_COOKIE_SAMESITE="Lax",  # the callback is a top-level GET: Lax is sent
        SESSION_COOKIE_SECURE=redirect_uri.startswith("https:"),
    )

    oauth = OAuth(app)
    psc = oauth.register(
        "psc",
        client_id=env["PSC_CLIENT_ID"],
        client_secret=env["PSC_CLIENT_SECRET"],
        server_metadata_url=env["PSC_DISCOVERY_URL"],
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",  # PKCE: Authlib makes and keeps the verifier
            "token_endpoint_auth_method": "client_secret_basic",
            "timeout": 10,
        },
    )

    def render(status: int = 200, **context: Any):
        return render_template_string(PAGE, profile=session.get("profile"), **context), status

    def failure(error: Exception, status: int):
        session.pop("profile", None)
        if isinstance(error, OAuthError):
            return render(status, error=error.error or "erreur", description=error.description)
        if isinstance(error, requests.HTTPError) and error.response is not None:
            try:  # PSC's OAuth error body behind a 5xx (e.g. 503 temporarily_unavailable)
                body = error.response.json()
                return render(
                    status,
                    error=body["error"],
                    description=" ".join(
                        filter(
                            None,
                            (f"HTTP {error.response.status_code}", body.get("error_description")),
                        )
                    ),
                )
            except (ValueError, KeyError, TypeError):
                pass
        if isinstance(error, JoseError):
            return render(status, error=error.error, description=error.description)
        return render(status, error=type(error).__name__, description=str(error))

    @app.get("/")
    def index():
        if request.args.get("state"):  # back from PSC's logout
            try:
                psc.validate_logout_response()
            except OAuthError as error:
                return failure(error, 400)
        return render()

    @app.get("/login")
    def login():
        # state, nonce and the PKCE verifier are generated and stored in the session by
        # Authlib; PSC requires state, nonce, scope_all and acr_values=eidas1.
        return psc.authorize_redirect(redirect_uri, acr_values=ACR)

    @app.get("/callback")
    def callback():
        metadata = psc.load_server_metadata()
        try:
            # Checks state, swaps the code (with the PKCE verifier), then verifies the
            # id_token: signature (JWKS, refetched on an unknown kid), iss, aud, exp,
            # nonce, at_hash, and that acr is eidas1 (given claims_options, Authlib checks
            # iss and aud only when they are listed).
            token = psc.authorize_access_token(
                leeway=LEEWAY,
                claims_options={
                    "iss": {"essential": True, "values": [metadata["issuer"]]},
                    "aud": {"essential": True, "values": [psc.client_id]},
                    "acr": {"essential": True, "values": [ACR]},
                },
            )
            userinfo = psc.userinfo(token=token)
        except OAuthError as error:
            # access_denied (refused on the phone), expired approval, PSC's token errors
            return failure(error, 401 if error.error == "access_denied" else 502)
        except LOGIN_ERRORS as error:
            return failure(error, 502)
        if userinfo.get("SubjectNameID") != token["userinfo"].get("SubjectNameID"):
            return failure(ValueError("userinfo is not the id_token's professional"), 502)
        session.clear()
        session.update(
            profile=_summary(userinfo),
            id_token=token["id_token"],
            refresh_token=token.get("refresh_token"),
        )
        return redirect(url_for("index"))

    @app.post("/refresh")
    def refresh():
        """Refresh the tokens and the userinfo; a refused refresh (PSC's session ended:
        ``invalid_grant``) logs the user out of this application."""
        if not session.get("refresh_token"):
            return redirect(url_for("index"))
        try:
            token = psc.fetch_access_token(
                grant_type="refresh_token", refresh_token=session["refresh_token"]
            )
            userinfo = psc.userinfo(token=token)
        except OAuthError as error:
            session.clear()
            return failure(error, 401)
        except LOGIN_ERRORS as error:
            return failure(error, 502)
        session.update(
            profile=_summary(userinfo),
            id_token=token.get("id_token", session.get("id_token")),
            refresh_token=token.get("refresh_token", session["refresh_token"]),
        )
        return redirect(url_for("index"))

    @app.post("/logout")
    def logout():
        """RP-initiated logout: PSC ends its session and comes back to ``post_logout``."""
        id_token = session.get("id_token")
        session.clear()
        if not id_token:
            return redirect(url_for("index"))
        return psc.logout_redirect(post_logout_redirect_uri=post_logout, id_token_hint=id_token)

    return app
