"""The Annuaire Santé FHIR API over HTTP, through an independent FHIR client (fhirpy).

The flow an application writes: log in through PSC, take ``SubjectNameID``, look the
professional up in the Annuaire with an off-the-shelf FHIR client, and find the same
person, activities and structures as in the userinfo's ``SubjectRefPro``.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, OperationOutcome, ResourceNotFound

from idp.app import BUNDLED_FIXTURES
from idp.mockdata import load_identities
from tests import fhir_profiles
from tests.oidc_client import RelyingParty

FHIR_JSON = "application/fhir+json"
# Every identity that logs in by itself at once with PSC's claims unchanged (magic
# identities aside): doctor, pharmacist, nurse, RPPS+ carer, EDIT.
AUTO = sorted(
    id_nat
    for id_nat, identity in load_identities(BUNDLED_FIXTURES / "credentials.yaml", now=0).items()
    if identity.policy == "auto"
    and not (identity.delay or identity.drop_claims or identity.set_claims)
)


@pytest.fixture(scope="module")
def fhir_base(base_url: str) -> str:
    return base_url + "/fhir/v2"


@pytest.fixture(scope="module")
def client(fhir_base: str) -> SyncFHIRClient:
    return SyncFHIRClient(fhir_base, requests_config={"timeout": 10})


def raw(resource) -> dict:
    return json.loads(json.dumps(resource.serialize()))


# Profiles -----------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", ["Practitioner", "PractitionerRole", "Organization"])
def test_every_resource_served_conforms_to_the_public_profiles(client, resource_type):
    resources = client.resources(resource_type).limit(25).fetch_all()  # pages by next links
    assert len(resources) > 20
    assert len({r.id for r in resources}) == len(resources)
    for resource in resources:
        assert fhir_profiles.problems(raw(resource)) == [], resource.id


def test_the_profile_checks_catch_what_the_public_profiles_forbid(client):
    doctor = raw(client.reference("Practitioner", "003-899700100045").to_resource())
    doctor["birthDate"] = "1970-01-01"  # restricted data
    doctor["identifier"] = doctor["identifier"][1:]  # no idNatPs
    doctor["meta"]["profile"] = doctor["meta"]["profile"][1:]
    assert fhir_profiles.problems(doctor) == [
        "meta.profile lacks as-dp-practitioner",
        "identifier[idNatPs] is required once (1..1)",
        "birthDate is restricted data: forbidden in as-dp-practitioner",
    ]
    site = raw(client.reference("Organization", "001-F35B000017").to_resource())
    site["type"][0]["coding"][0]["code"] = "HOSPITAL"
    site["identifier"][1]["type"]["coding"][0]["code"] = "SIRET"
    assert fhir_profiles.problems(site) == [
        "identifier https://finess.esante.gouv.fr lacks its type / use official",
        "type[organizationType] must be GEOGRAPHICAL-ENTITY or LEGAL-ENTITY",
    ]


def test_metadata_is_a_capability_statement_of_what_is_served(fhir_base):
    response = requests.get(fhir_base + "/metadata", timeout=5)
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    statement = fhir_profiles.parse(response.json())
    assert statement.fhirVersion == "4.0.1" and statement.kind == "instance"
    (rest,) = statement.rest
    served = {r.type: r for r in rest.resource}
    assert set(served) == {"Practitioner", "PractitionerRole", "Organization"}
    practitioner = {p.name for p in served["Practitioner"].searchParam}
    assert {"_id", "identifier", "family", "given", "name", "qualification-code"} <= practitioner
    assert "PractitionerRole:practitioner" in served["Practitioner"].searchRevInclude
    assert "PractitionerRole:organization" in served["PractitionerRole"].searchInclude


# The PSC login and the Annuaire agree -----------------------------------------------------


@pytest.mark.parametrize("id_nat", AUTO)
def test_the_id_nat_of_a_psc_login_finds_the_same_person_activities_and_structures(
    discovery, client, id_nat
):
    token, _ = RelyingParty(discovery).login_auto(id_nat)
    info = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=5,
    ).json()

    bundle = (
        client.resources("Practitioner")
        .search(identifier=info["SubjectNameID"])
        .revinclude("PractitionerRole", "practitioner")
        .include("PractitionerRole", "organization", iterate=True)
        .fetch_raw()
    )
    by_type: dict[str, list[dict]] = {}
    for entry in bundle.entry:
        resource = raw(entry.resource)
        assert fhir_profiles.problems(resource) == []
        by_type.setdefault(resource["resourceType"], []).append(resource)
    (practitioner,) = by_type["Practitioner"]
    idnps = [i for i in practitioner["identifier"] if i["system"].endswith("1.2.250.1.71.4.2.1")]
    assert [i["value"] for i in idnps] == [info["SubjectNameID"]]
    (name,) = practitioner["name"]
    assert name["family"] == info["family_name"]
    assert name.get("given", [""])[0] == info["given_name"]

    exercices = info["SubjectRefPro"]["exercices"]
    qualification_codes = {
        coding["code"]
        for q in practitioner.get("qualification", ())
        for coding in q["code"]["coding"]
    }
    for exercice in exercices:
        for key in ("codeProfession", "codeCategorieProfessionnelle", "codeSavoirFaire"):
            assert exercice[key] in qualification_codes | {""}

    organizations = {o["id"]: o for o in by_type.get("Organization", [])}

    def from_psc(activity: dict) -> tuple:
        codes = ("codeGenreActivite", "codeModeExercice", "codeRole", "codeSectionPharmacien")
        return (
            frozenset(activity[c] for c in codes if activity[c]),
            activity["identifiantTechniqueDeLaStructure"],
            activity["raisonSocialeSite"],
            activity["codeSecteurDactivite"],
            activity["numeroFinessSite"],
            activity["numeroSiretSite"],
        )

    def from_fhir(role: dict) -> tuple:
        codes = frozenset(c["code"] for concept in role.get("code", ()) for c in concept["coding"])
        organization = organizations[role["organization"]["reference"].split("/")[1]]
        ids = {i["type"]["coding"][0]["code"]: i["value"] for i in organization["identifier"]}
        sector = [
            t["coding"][0]["code"]
            for t in organization["type"]
            if t["extension"][0]["valueCode"] == "secteurActiviteRASS"
        ]
        return (
            codes,
            ids.get("RPPSRG", ""),
            organization.get("name", ""),
            sector[0] if sector else "",
            ids.get("FINEG", ""),
            ids.get("SIRET", ""),
        )

    psc = Counter(
        from_psc(a)
        for a in {
            json.dumps(a, sort_keys=True): a for e in exercices for a in e["activities"]
        }.values()
    )
    annuaire = Counter(from_fhir(role) for role in by_type.get("PractitionerRole", []))
    assert annuaire == psc and psc


# Searches, reads, paging, includes -------------------------------------------------------


def test_reads_and_identifier_searches(client):
    doctor = client.reference("Practitioner", "003-899700100045").to_resource()
    assert doctor["name"][0]["family"] == "LEFEBVRE"
    by_rpps = client.resources("Practitioner").search(identifier="99700100045").fetch()
    with_system = (
        client.resources("Practitioner")
        .search(identifier="https://rpps.esante.gouv.fr|99700100045")
        .fetch()
    )
    assert [r.id for r in by_rpps] == [r.id for r in with_system] == ["003-899700100045"]
    organization = client.resources("Organization").search(identifier="35B000017").get()
    assert organization.id == "001-F35B000017"
    with pytest.raises(ResourceNotFound):
        client.reference("Practitioner", "899700100045").to_resource()  # an identifier
    with pytest.raises(ResourceNotFound):
        client.reference("Organization", "001-NOWHERE").to_resource()


def test_searches_by_name_qualification_and_role(client):
    found = client.resources("Practitioner").search(family="lefeb", given="ant").fetch()
    assert [r.id for r in found] == ["003-899700100045"]
    pharmacists = client.resources("Practitioner").search(**{"qualification-code": "21"})
    assert len(pharmacists.fetch_all()) == 4
    holders = client.resources("PractitionerRole").search(role="FON-03").fetch()
    assert [r.id for r in holders] == ["005-899700100185-1"]
    hospitals = client.resources("Organization").search(type="SA01").fetch_all()
    assert "001-F35B000017" in {r.id for r in hospitals}


def test_paging_links_go_forward_and_back(fhir_base, client):
    everyone = [r.id for r in client.resources("PractitionerRole").limit(1000).fetch()]
    paged = [r.id for r in client.resources("PractitionerRole").limit(4).fetch_all()]
    assert paged == everyone

    page = requests.get(fhir_base + "/PractitionerRole", params={"_count": 4}, timeout=5).json()
    links = {link["relation"]: link["url"] for link in page["link"]}
    assert set(links) == {"self", "first", "next"}
    second = requests.get(links["next"], timeout=5).json()
    second_links = {link["relation"]: link["url"] for link in second["link"]}
    assert {"self", "first", "next", "previous"} == set(second_links)
    back = requests.get(second_links["previous"], timeout=5).json()
    assert [e["resource"]["id"] for e in back["entry"]] == everyone[:4]
    assert [e["resource"]["id"] for e in second["entry"]] == everyone[4:8]


def test_includes_through_the_client(client):
    bundle = (
        client.resources("PractitionerRole")
        .search(organization="Organization/001-F67B000010")
        .include("PractitionerRole", "practitioner")
        .include("PractitionerRole", "organization")
        .fetch_raw()
    )
    modes = Counter((e.resource.resourceType, e.search.mode) for e in bundle.entry)
    assert modes == {
        ("PractitionerRole", "match"): 2,
        ("Practitioner", "include"): 2,
        ("Organization", "include"): 1,
    }
    sites = (
        client.resources("Organization")
        .search(identifier="35B000009")
        .revinclude("Organization", "partof")
        .revinclude("PractitionerRole", "organization", iterate=True)
        .fetch_raw()
    )
    found = Counter(e.resource.resourceType for e in sites.entry)
    assert found["Organization"] == 3 and found["PractitionerRole"] == 9


def test_post_search_as_the_real_gateway_allows(fhir_base):
    response = requests.post(
        fhir_base + "/Practitioner/_search", data={"identifier": "99700100045"}, timeout=5
    )
    assert response.status_code == 200
    assert [e["resource"]["id"] for e in response.json()["entry"]] == ["003-899700100045"]


# Errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "fragment"),
    [
        ("GET", "/Practitioner?foo=bar", 400, "Unknown search parameter 'foo'"),
        ("GET", "/Practitioner?_count=-1", 400, "_count"),
        ("GET", "/Practitioner?active=maybe", 400, "true or false"),
        ("GET", "/Practitioner?_lastUpdated=tomorrow", 400, "Invalid date"),
        ("GET", "/Practitioner?_include=Patient:organization", 400, "_include"),
        ("GET", "/Practitioner/003-899700100045?foo=1", 400, "not supported"),
        ("GET", "/Practitioner/003-000000000000", 404, "not known"),
        ("GET", "/Patient", 404, "Unknown resource type 'Patient'"),
        ("GET", "/Practitioner?_format=xml", 406, "JSON only"),
        ("PUT", "/Practitioner/003-899700100045", 405, "read-only"),
        ("DELETE", "/Organization/001-F35B000017", 405, "read-only"),
    ],
)
def test_bad_requests_get_an_operation_outcome(fhir_base, method, path, status, fragment):
    response = requests.request(method, fhir_base + path, timeout=5)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    outcome = fhir_profiles.parse(response.json())
    assert outcome.get_resource_type() == "OperationOutcome"
    assert fragment in outcome.issue[0].diagnostics


def test_the_client_sees_bad_queries_as_operation_outcomes(client):
    with pytest.raises(OperationOutcome) as caught:
        client.resources("Practitioner").search(unknown="x").fetch()
    assert caught.value.resource["resourceType"] == "OperationOutcome"


def test_xml_only_clients_are_told_json_only(fhir_base):
    response = requests.get(
        fhir_base + "/Practitioner", headers={"Accept": "application/fhir+xml"}, timeout=5
    )
    assert response.status_code == 406


# Settings: API key, path, restricted data -------------------------------------------------


def test_api_key_path_and_restricted_profiles(start_server):
    server = start_server(
        fhir_api_keys=["key-one", "key-two"], fhir_path="/annuaire/fhir/", fhir_restricted=True
    )
    base = server.settings.effective_public_url + "/annuaire/fhir"

    missing = requests.get(base + "/Practitioner", timeout=5)
    assert missing.status_code == 401
    assert fhir_profiles.parse(missing.json()).issue[0].code == "security"
    wrong = requests.get(base + "/metadata", headers={"ESANTE-API-KEY": "nope"}, timeout=5)
    assert wrong.status_code == 401
    with pytest.raises(AuthorizationError):
        SyncFHIRClient(base).resources("Practitioner").fetch()

    client = SyncFHIRClient(base, extra_headers={"ESANTE-API-KEY": "key-two"})
    doctor = raw(client.reference("Practitioner", "003-899700100011").to_resource())
    assert fhir_profiles.problems(doctor, tier="dr") == []
    assert doctor["birthDate"] and {t["system"] for t in doctor["telecom"]} == {"phone", "email"}
    assert (
        requests.get(
            server.settings.effective_public_url + "/fhir/v2/metadata", timeout=5
        ).status_code
        == 404
    )


def test_no_key_is_needed_when_none_is_configured(fhir_base):
    assert requests.get(fhir_base + "/metadata", timeout=5).status_code == 200


def test_an_empty_path_turns_the_api_off(start_server):
    server = start_server(fhir_path="")
    url = server.settings.effective_public_url
    assert requests.get(url + "/fhir/v2/metadata", timeout=5).status_code == 404
    assert requests.get(url + "/_mock/health/live", timeout=5).status_code == 200
