"""PSC's JSON shapes: the only module that knows how PSC spells its claims.

Practitioner (who) + Authentication (how, when, which session) → id_token, access token,
userinfo. Key names, their order and their types follow real PSC payloads
(``reference/psc-protocol.md`` §4): activity fields are strings with ``""`` for empty,
``SubjectRole`` is an array, ``otherIds[].qualite`` an integer, ``email_verified`` a boolean.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from idp.directory.model import Activite, Exercice, Practitioner

LEGACY_SUB_PREFIX = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:"
_SUB_NAMESPACE = uuid.UUID("550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd")
PROFESSION_OID = "1.2.250.1.213.1.1.5.5"
SECTEUR_OID = "1.2.250.1.71.4.2.4"
PALIER_AUTHENTIFICATION = "APPPRIP3^1.2.250.1.213.1.5.1.1.1"
PSI_LOCALE = "1.2.250.1.213.1.3.1.1"
ACR = "eidas1"

# activities[] keys, in PSC's order, with the model field each one reads.
_ACTIVITY_KEYS = (
    ("codeModeExercice", "code_mode_exercice"),
    ("codeSecteurDactivite", "code_secteur_activite"),
    ("codeSectionPharmacien", "code_section_pharmacien"),
    ("codeRole", "code_role"),
    ("codeGenreActivite", "code_genre_activite"),
    ("numeroSiretSite", "numero_siret_site"),
    ("numeroSirenSite", "numero_siren_site"),
    ("numeroFinessSite", "numero_finess_site"),
    ("numeroFinessetablissementJuridique", "numero_finess_etablissement_juridique"),
    ("identifiantTechniqueDeLaStructure", "identifiant_technique_structure"),
    ("raisonSocialeSite", "raison_sociale_site"),
    ("enseigneCommercialeSite", "enseigne_commerciale_site"),
    ("complementDestinataire", "complement_destinataire"),
    ("complementPointGeographique", "complement_point_geographique"),
    ("numeroVoie", "numero_voie"),
    ("indiceRepetitionVoie", "indice_repetition_voie"),
    ("codeTypeDeVoie", "code_type_de_voie"),
    ("libelleVoie", "libelle_voie"),
    ("mentionDistribution", "mention_distribution"),
    ("bureauCedex", "bureau_cedex"),
    ("codePostal", "code_postal"),
    ("codeCommune", "code_commune"),
    ("codePays", "code_pays"),
    ("telephone", "telephone"),
    ("telephone2", "telephone2"),
    ("telecopie", "telecopie"),
    ("adresseEMail", "adresse_email"),
    ("codeDepartement", "code_departement"),
    ("ancienIdentifiantDeLaStructure", "ancien_identifiant_structure"),
    ("autoriteDenregistrement", "autorite_enregistrement"),
)


@dataclass(frozen=True, slots=True)
class Authentication:
    """How and when a person proved who they are, and the SSO session it opened."""

    practitioner: Practitioner
    auth_mode: str  # "MOBILE" (e-CPS) or "CARD"
    auth_time: int
    session_id: str

    def get_user_id(self) -> str:  # Authlib's user protocol
        return self.practitioner.id_nat


@dataclass(frozen=True, slots=True)
class TokenContext:
    """What one token response shares: issuer, client, scope, nonce, clock reading."""

    issuer: str
    client_id: str
    scope: str
    nonce: str
    issued_at: int
    profile: str = "psc-2023"
    # RFC 8705 §3: SHA-256 thumbprint of the client's TLS certificate, when the client
    # authenticated with it (tls_client_auth); the access token is then bound to it.
    certificate_thumbprint: str = ""


@dataclass(frozen=True, slots=True)
class ClaimProfile:
    """What changed in PSC's tokens over time (reference §4.2). [UNCERTAIN: the 2026 shape
    comes from one third-party decoded payload.]"""

    uuid_sub: bool  # 2026: a technical UUID instead of f:<realm-uuid>:<idNat>
    jti_prefix: str  # 2026: Keycloak 25's "onrtac:" (online access token)
    extra: tuple[tuple[str, str], ...]  # 2026: added to access tokens and id_tokens


PROFILES = {
    "psc-2023": ClaimProfile(uuid_sub=False, jti_prefix="", extra=()),
    "psc-2026": ClaimProfile(
        uuid_sub=True, jti_prefix="onrtac:", extra=(("PSISubjectNameID", ""), ("auth_level", "1"))
    ),
}


def subject(id_nat: str, profile: str) -> str:
    """PSC's ``sub``: legacy ``f:<realm-uuid>:<idNat>``, or a stable UUID (2026 form)."""
    if PROFILES[profile].uuid_sub:
        return str(uuid.uuid5(_SUB_NAMESPACE, id_nat))
    return LEGACY_SUB_PREFIX + id_nat


def other_ids(practitioner: Practitioner) -> list[dict[str, Any]]:
    return [
        {"identifiant": other.identifiant, "origine": other.origine, "qualite": other.qualite}
        for other in practitioner.autres_identifiants
    ]


def access_token(auth: Authentication, ctx: TokenContext, *, lifetime: int, jti: str) -> dict:
    """Access token claims, as PSC's (2023 samples): no ``aud``, ``typ`` Bearer."""
    id_nat = auth.practitioner.id_nat
    profile = PROFILES[ctx.profile]
    return {
        "exp": ctx.issued_at + lifetime,
        "iat": ctx.issued_at,
        "auth_time": auth.auth_time,
        "jti": profile.jti_prefix + jti,
        "iss": ctx.issuer,
        "sub": subject(id_nat, ctx.profile),
        "typ": "Bearer",
        "azp": ctx.client_id,
        "nonce": ctx.nonce,
        "session_state": auth.session_id,
        "acr": ACR,
        "scope": ctx.scope,
        "sid": auth.session_id,
        "authMode": auth.auth_mode,
        "otherIds": other_ids(auth.practitioner),
        "SubjectNameID": id_nat,
        "preferred_username": id_nat,
        **dict(profile.extra),
        **confirmation(ctx),
    }


def confirmation(ctx: TokenContext) -> dict[str, Any]:
    """RFC 8705 §3.1: ``cnf`` with ``x5t#S256`` in a certificate-bound access token (and so
    in its introspection), nothing otherwise."""
    if not ctx.certificate_thumbprint:
        return {}
    return {"cnf": {"x5t#S256": ctx.certificate_thumbprint}}


def bound_thumbprint(token_claims: dict[str, Any]) -> str:
    """The thumbprint a token is bound to, "" for a plain bearer token."""
    cnf = token_claims.get("cnf")
    value = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    return value if isinstance(value, str) else ""


def id_token(
    auth: Authentication, ctx: TokenContext, *, lifetime: int, jti: str, at_hash: str
) -> dict:
    """id_token claims, as PSC's (2022 sample)."""
    practitioner = auth.practitioner
    profile = PROFILES[ctx.profile]
    claims = {
        "exp": ctx.issued_at + lifetime,
        "iat": ctx.issued_at,
        "auth_time": auth.auth_time,
        "jti": profile.jti_prefix + jti,
        "iss": ctx.issuer,
        "aud": ctx.client_id,
        "sub": subject(practitioner.id_nat, ctx.profile),
        "typ": "ID",
        "azp": ctx.client_id,
        "nonce": ctx.nonce,
        "session_state": auth.session_id,
        "at_hash": at_hash,
        "sid": auth.session_id,
        "authMode": auth.auth_mode,
        "acr": ACR,
        "SubjectNameID": practitioner.id_nat,
        "preferred_username": practitioner.id_nat,
        "given_name": practitioner.given_name,
        "family_name": practitioner.family_name,
        **dict(profile.extra),
    }
    if not ctx.nonce:
        del claims["nonce"]
    return claims


def userinfo(auth: Authentication, *, profile: str) -> dict[str, Any]:
    """Userinfo, with every key of reference §4.5 in the order PSC returns them."""
    practitioner = auth.practitioner
    first = practitioner.activites[0] if practitioner.activites else Activite()
    return {
        "Secteur_Activite": (
            f"{first.code_secteur_activite}^{SECTEUR_OID}" if first.code_secteur_activite else ""
        ),
        "sub": subject(practitioner.id_nat, profile),
        "SubjectOrganization": first.raison_sociale_site,
        "Mode_Acces_Raison": "",
        "preferred_username": practitioner.id_nat,
        "given_name": practitioner.given_name,
        "Acces_Regulation_Medicale": "FAUX",
        "UITVersion": "1.0",
        "authMode": auth.auth_mode,
        "Palier_Authentification": PALIER_AUTHENTIFICATION,
        "SubjectRefPro": {
            "codeCivilite": practitioner.code_civilite,
            "exercices": [_exercice(exercice) for exercice in practitioner.exercices],
        },
        "SubjectOrganizationID": first.identifiant_technique_structure,
        "SubjectRole": subject_roles(practitioner),
        "PSI_Locale": PSI_LOCALE,
        "otherIds": other_ids(practitioner),
        "SubjectNameID": practitioner.id_nat,
        "family_name": practitioner.family_name,
        "email_verified": False,
    }


def subject_roles(practitioner: Practitioner) -> list[str]:
    """``<code>^OID`` per exercice: the profession code, or for a professionnel à rôle
    (no profession, RPPS+) the R85 role code of their activities. [UNCERTAIN: no real
    sample of a role-only person's SubjectRole was found.]"""
    roles: list[str] = []
    for exercice in practitioner.exercices:
        codes = (
            [exercice.code_profession]
            if exercice.code_profession
            else [activite.code_role for activite in exercice.activites if activite.code_role]
        )
        roles.extend(f"{code}^{PROFESSION_OID}" for code in codes)
    return list(dict.fromkeys(roles))


def _exercice(exercice: Exercice) -> dict[str, Any]:
    return {
        "codeProfession": exercice.code_profession,
        "codeCategorieProfessionnelle": exercice.code_categorie_professionnelle,
        "codeCiviliteDexercice": exercice.code_civilite_exercice,
        "nomDexercice": exercice.nom_exercice,
        "prenomDexercice": exercice.prenom_exercice,
        "codeTypeSavoirFaire": exercice.code_type_savoir_faire,
        "codeSavoirFaire": exercice.code_savoir_faire,
        "activities": [
            {key: getattr(activite, name) for key, name in _ACTIVITY_KEYS}
            for activite in exercice.activites
        ],
    }


# --- introspection, service accounts, logout tokens, signed userinfo -------------------

SERVICE_ACCOUNT_PREFIX = "service-account-"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def introspection(token_claims: dict[str, Any]) -> dict[str, Any]:
    """Introspection of an active access token, as PSC answers it (reference §4.3, 2021
    and 2023 samples): the token's claims as they are (``SubjectNameID``, ``authMode``,
    ``otherIds``…), then ``client_id``, ``username`` and ``active``."""
    return {
        **token_claims,
        "client_id": token_claims.get("azp", ""),
        "username": token_claims.get("preferred_username", ""),
        "active": True,
    }


def refresh_introspection(
    *,
    issuer: str,
    client_id: str,
    scope: str,
    nonce: str,
    session_id: str,
    id_nat: str,
    profile: str,
    issued_at: int,
    expires_at: int,
    jti: str,
) -> dict[str, Any]:
    """Introspection of an active refresh token: Keycloak's refresh token claims (``typ``
    Refresh, ``aud`` the issuer) and no PSC claim: ANS says ``SubjectNameID`` comes only
    when the access token is introspected."""
    return {
        "exp": expires_at,
        "iat": issued_at,
        "jti": jti,
        "iss": issuer,
        "aud": issuer,
        "sub": subject(id_nat, profile),
        "typ": "Refresh",
        "azp": client_id,
        "nonce": nonce,
        "session_state": session_id,
        "scope": scope,
        "sid": session_id,
        "client_id": client_id,
        "username": id_nat,
        "active": True,
    }


def service_account_username(client_id: str) -> str:
    """Keycloak's name for the user behind a client's service account."""
    return SERVICE_ACCOUNT_PREFIX + client_id


def service_account_subject(client_id: str) -> str:
    """A service account is a local Keycloak user: its ``sub`` is a UUID (stable here)."""
    return str(uuid.uuid5(_SUB_NAMESPACE, service_account_username(client_id)))


def service_account_access_token(ctx: TokenContext, *, lifetime: int, jti: str) -> dict:
    """A client_credentials access token: Keycloak's service-account shape, no person
    (no ``SubjectNameID``, ``authMode``, ``otherIds``, session or ``acr``)."""
    return {
        "exp": ctx.issued_at + lifetime,
        "iat": ctx.issued_at,
        "jti": jti,
        "iss": ctx.issuer,
        "sub": service_account_subject(ctx.client_id),
        "typ": "Bearer",
        "azp": ctx.client_id,
        "scope": ctx.scope,
        "preferred_username": service_account_username(ctx.client_id),
        "client_id": ctx.client_id,
        **confirmation(ctx),
    }


def service_account_userinfo(client_id: str) -> dict[str, Any]:
    """Userinfo for a service-account token, as Keycloak answers it."""
    return {
        "sub": service_account_subject(client_id),
        "email_verified": False,
        "preferred_username": service_account_username(client_id),
    }


def signed_userinfo(info: dict[str, Any], *, issuer: str, client_id: str) -> dict[str, Any]:
    """Userinfo as a JWT (``application/jwt``): Keycloak adds ``iss`` and ``aud``."""
    return {**info, "iss": issuer, "aud": client_id}


def logout_token(
    *,
    issuer: str,
    client_id: str,
    id_nat: str,
    profile: str,
    session_id: str,
    issued_at: int,
    lifetime: int,
    jti: str,
) -> dict[str, Any]:
    """OIDC Back-Channel Logout 1.0 §2.4 logout token, in Keycloak's order (``typ``
    Logout); never a ``nonce``."""
    return {
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": jti,
        "iss": issuer,
        "aud": client_id,
        "sub": subject(id_nat, profile),
        "typ": "Logout",
        "sid": session_id,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
