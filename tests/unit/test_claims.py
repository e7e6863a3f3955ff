"""PSC's claim shapes, compared with PSC's published samples key by key, type by type."""

from __future__ import annotations

import json

from idp import claims
from idp.claims import Authentication, TokenContext
from idp.directory.model import Activite, AutreIdentifiant, Exercice, Practitioner

# reference/psc-protocol.md §4.5: POC TmpTest.java, Feb 2023, BAS test card.
PSC_USERINFO_SAMPLE = json.loads("""
{ "Secteur_Activite":"SA07^1.2.250.1.71.4.2.4",
  "sub":"f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:899700427885",
  "SubjectOrganization":"CABINET M DOC0042788", "Mode_Acces_Raison":"",
  "preferred_username":"899700427885", "given_name":"KIT",
  "Acces_Regulation_Medicale":"FAUX", "UITVersion":"1.0", "authMode":"CARD",
  "Palier_Authentification":"APPPRIP3^1.2.250.1.213.1.5.1.1.1",
  "SubjectRefPro":{"codeCivilite":"M","exercices":[{
     "codeProfession":"10","codeCategorieProfessionnelle":"C","codeCiviliteDexercice":"DR",
     "nomDexercice":"DOC0042788","prenomDexercice":"KIT","codeTypeSavoirFaire":"S","codeSavoirFaire":"SM26",
     "activities":[{"codeModeExercice":"L","codeSecteurDactivite":"SA07","codeSectionPharmacien":"","codeRole":"",
        "codeGenreActivite":"","numeroSiretSite":"","numeroSirenSite":"","numeroFinessSite":"",
        "numeroFinessetablissementJuridique":"","identifiantTechniqueDeLaStructure":"R102671",
        "raisonSocialeSite":"CABINET M DOC0042788","enseigneCommercialeSite":"","complementDestinataire":"CABINET M DOC",
        "complementPointGeographique":"","numeroVoie":"1","indiceRepetitionVoie":"","codeTypeDeVoie":"R",
        "libelleVoie":"NOIR","mentionDistribution":"","bureauCedex":"75009 PARIS","codePostal":"75009",
        "codeCommune":"","codePays":"99000","telephone":"","telephone2":"","telecopie":"","adresseEMail":"",
        "codeDepartement":"","ancienIdentifiantDeLaStructure":"499700427885006","autoriteDenregistrement":"CNOM/CNOM/CNOM"}]}]},
  "SubjectOrganizationID":"R102671", "SubjectRole":["10^1.2.250.1.213.1.1.5.5"],
  "PSI_Locale":"1.2.250.1.213.1.3.1.1",
  "otherIds":[{"identifiant":"899700427885","origine":"RPPS","qualite":1}],
  "SubjectNameID":"899700427885", "family_name":"DOC0042788" }
""")

# §4.1 (id_token, 2022) and §4.2 (access token, 2023 + SubjectNameID, July 2023).
PSC_ID_TOKEN_KEYS = [
    "exp",
    "iat",
    "auth_time",
    "jti",
    "iss",
    "aud",
    "sub",
    "typ",
    "azp",
    "nonce",
    "session_state",
    "at_hash",
    "sid",
    "authMode",
    "acr",
    "SubjectNameID",
    "preferred_username",
    "given_name",
    "family_name",
]
PSC_ACCESS_TOKEN_KEYS = [
    "exp",
    "iat",
    "auth_time",
    "jti",
    "iss",
    "sub",
    "typ",
    "azp",
    "nonce",
    "session_state",
    "acr",
    "scope",
    "sid",
    "authMode",
    "otherIds",
    "SubjectNameID",
    "preferred_username",
]

SAMPLE_PERSON = Practitioner(
    id_nat="899700427885",
    type_identifiant="8",
    identifiant="99700427885",
    code_civilite="M",
    exercices=(
        Exercice(
            code_profession="10",
            code_categorie_professionnelle="C",
            code_civilite_exercice="DR",
            nom_exercice="DOC0042788",
            prenom_exercice="KIT",
            code_type_savoir_faire="S",
            code_savoir_faire="SM26",
            activites=(
                Activite(
                    code_mode_exercice="L",
                    code_secteur_activite="SA07",
                    identifiant_technique_structure="R102671",
                    raison_sociale_site="CABINET M DOC0042788",
                    complement_destinataire="CABINET M DOC",
                    numero_voie="1",
                    code_type_de_voie="R",
                    libelle_voie="NOIR",
                    bureau_cedex="75009 PARIS",
                    code_postal="75009",
                    code_pays="99000",
                    ancien_identifiant_structure="499700427885006",
                    autorite_enregistrement="CNOM/CNOM/CNOM",
                ),
            ),
        ),
    ),
    autres_identifiants=(AutreIdentifiant("899700427885", "RPPS", 1),),
)
AUTH = Authentication(SAMPLE_PERSON, "CARD", 1677509928, "f75fe973-session")
CTX = TokenContext(
    issuer="https://mock/auth/realms/esante-wallet",
    client_id="ans-poc",
    scope="openid scope_all",
    nonce="n-1",
    issued_at=1677510406,
)


def test_userinfo_equals_psc_sample_key_by_key_type_by_type():
    info = claims.userinfo(AUTH, profile="psc-2023")
    expected = {**PSC_USERINFO_SAMPLE, "email_verified": False}
    assert info == expected
    assert list(info)[: len(PSC_USERINFO_SAMPLE)] == list(PSC_USERINFO_SAMPLE)  # PSC's order
    assert json.dumps(info, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_id_token_keys_in_psc_order():
    token = claims.id_token(AUTH, CTX, lifetime=120, jti="j", at_hash="h")
    assert list(token) == PSC_ID_TOKEN_KEYS
    assert token["exp"] - token["iat"] == 120
    assert token["typ"] == "ID" and token["aud"] == token["azp"] == "ans-poc"
    assert token["given_name"] == "KIT" and token["family_name"] == "DOC0042788"


def test_access_token_keys_in_psc_order_without_aud():
    token = claims.access_token(AUTH, CTX, lifetime=120, jti="j")
    assert list(token) == PSC_ACCESS_TOKEN_KEYS
    assert token["otherIds"] == [{"identifiant": "899700427885", "origine": "RPPS", "qualite": 1}]
    assert token["typ"] == "Bearer" and token["acr"] == "eidas1"


def test_missing_nonce_is_an_empty_string_in_access_tokens_and_absent_from_id_tokens():
    ctx = TokenContext(CTX.issuer, CTX.client_id, CTX.scope, "", CTX.issued_at)
    assert claims.access_token(AUTH, ctx, lifetime=120, jti="j")["nonce"] == ""
    assert "nonce" not in claims.id_token(AUTH, ctx, lifetime=120, jti="j", at_hash="h")


def test_sub_forms():
    assert claims.subject("899700427885", "psc-2023") == (
        "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:899700427885"
    )
    uuid_sub = claims.subject("899700427885", "psc-2026")
    assert len(uuid_sub) == 36 and uuid_sub == claims.subject("899700427885", "psc-2026")
    assert uuid_sub != claims.subject("899700427893", "psc-2026")


def test_role_only_person_gets_role_codes_in_subject_role():
    aide_soignant = Practitioner(
        id_nat="899700000000",
        type_identifiant="8",
        identifiant="99700000000",
        exercices=(Exercice(activites=(Activite(code_role="313", code_genre_activite="GENR11"),)),),
    )
    assert claims.subject_roles(aide_soignant) == ["313^1.2.250.1.213.1.1.5.5"]


def test_several_exercices_and_activities_all_reach_userinfo():
    two = Practitioner(
        id_nat="899700000000",
        type_identifiant="8",
        identifiant="99700000000",
        exercices=(
            Exercice(
                code_profession="10",
                activites=(Activite(code_mode_exercice="L"), Activite(code_mode_exercice="S")),
            ),
            Exercice(code_profession="21", activites=()),
        ),
    )
    info = claims.userinfo(Authentication(two, "MOBILE", 0, "s"), profile="psc-2026")
    exercices = info["SubjectRefPro"]["exercices"]
    assert [len(e["activities"]) for e in exercices] == [2, 0]
    assert info["SubjectRole"] == ["10^1.2.250.1.213.1.1.5.5", "21^1.2.250.1.213.1.1.5.5"]
    assert info["Secteur_Activite"] == "" and info["SubjectOrganization"] == ""


def _type_shape(value):
    """The JSON type structure of a value: what a strict consumer's model depends on."""
    if isinstance(value, dict):
        return {key: _type_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_type_shape(value[0])] if value else []
    return type(value).__name__


def test_every_fixture_person_has_the_sample_shape_key_by_key_type_by_type():
    from idp.app import BUNDLED_FIXTURES
    from idp.directory.index import Directory

    sample_top = _type_shape({**PSC_USERINFO_SAMPLE, "email_verified": False})
    sample_exercice = sample_top["SubjectRefPro"]["exercices"][0]
    sample_activity = sample_exercice["activities"][0]
    people = list(Directory.from_fixtures(BUNDLED_FIXTURES / "annuaire").all())
    assert len(people) >= 40
    for person in people:
        info = claims.userinfo(Authentication(person, "MOBILE", 0, "s"), profile="psc-2023")
        shape = _type_shape(info)
        assert list(shape) == list(sample_top), person.id_nat
        for key, kind in sample_top.items():
            if key != "SubjectRefPro":
                assert shape[key] == kind or shape[key] == [], (person.id_nat, key)
        for exercice in info["SubjectRefPro"]["exercices"]:
            exercice_shape = _type_shape(exercice)
            assert set(exercice_shape) == set(sample_exercice), person.id_nat
            for activity in exercice["activities"]:
                assert _type_shape(activity) == sample_activity, person.id_nat
        access = claims.access_token(
            Authentication(person, "MOBILE", 0, "s"), CTX, lifetime=120, jti="j"
        )
        assert list(access) == PSC_ACCESS_TOKEN_KEYS
        assert all(isinstance(other["qualite"], int) for other in access["otherIds"])


def test_psc_2026_profile_adds_its_claims_and_uuid_sub():
    ctx = TokenContext(CTX.issuer, CTX.client_id, CTX.scope, "n", CTX.issued_at, "psc-2026")
    access = claims.access_token(AUTH, ctx, lifetime=120, jti="j")
    assert access["PSISubjectNameID"] == "" and access["auth_level"] == "1"
    assert access["jti"] == "onrtac:j" and len(access["sub"]) == 36
    id_claims = claims.id_token(AUTH, ctx, lifetime=120, jti="j", at_hash="h")
    assert id_claims["auth_level"] == "1" and id_claims["sub"] == access["sub"]
    assert claims.userinfo(AUTH, profile="psc-2026")["sub"] == access["sub"]
    legacy = claims.access_token(AUTH, CTX, lifetime=120, jti="j")
    assert "auth_level" not in legacy and legacy["jti"] == "j"
