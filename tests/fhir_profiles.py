"""What the IG "Annuaire Santé" public profiles (``as-dp-*``, 1.2.0-snapshot-2) require,
checked on a resource parsed by ``fhir.resources``: the validator with the IG package is
out of reach here, so the tests check the constraints the profiles state (cardinalities,
fixed systems and type codes, forbidden elements; ``shared/reference`` §A2).

Each ``problems_*`` returns a list of the broken rules (empty: conforms).
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class

IG = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
NOS = "https://mos.esante.gouv.fr/NOS/"
SOURCE = "https://annuaire.esante.gouv.fr"
# The slices' identifier systems and type codes, per resource type.
IDENTIFIER_SLICES = {
    "Practitioner": {
        "urn:oid:1.2.250.1.71.4.2.1": {"IDNPS"},
        "https://rpps.esante.gouv.fr": {"RPPS"},
    },
    "Organization": {
        "urn:oid:1.2.250.1.71.4.2.2": {"IDNST"},
        "https://finess.esante.gouv.fr": {"FINEG", "FINEJ"},
        "https://sirene.fr": {"SIRET", "SIREN"},
        "https://rppsrang.esante.gouv.fr": {"RPPSRG", "INTRN"},
    },
}
ROLE_CODE_SYSTEMS = {
    NOS + f"{name}/FHIR/{name.replace('_', '-')}"
    for name in (
        "TRE_R22-GenreActivite",
        "TRE_R23-ModeExercice",
        "TRE_R21-Fonction",
        "TRE_R85-RolePriseCharge",
        "TRE_R96-AutreFonctionSanitaire",
        "TRE_R06-SectionTableauCNOP",
    )
}


def parse(data: dict) -> Any:
    """The resource as the model library reads it (raises if structurally invalid)."""
    return get_fhir_model_class(data["resourceType"]).model_validate(data)


def problems(data: dict, *, tier: str = "dp") -> list[str]:
    resource = parse(data)
    check = {
        "Practitioner": _practitioner,
        "PractitionerRole": _practitioner_role,
        "Organization": _organization,
    }[resource.get_resource_type()]
    return _common(resource, tier) + check(resource, tier)


def _common(resource: Any, tier: str) -> list[str]:
    found = []
    kind = {
        "Practitioner": ("practitioner", "fr-core-practitioner"),
        "PractitionerRole": ("practitionerrole", "fr-core-practitioner-role"),
        "Organization": ("organization", "fr-core-organization"),
    }[resource.get_resource_type()]
    profiles = resource.meta.profile if resource.meta else []
    if f"{IG}as-{tier}-{kind[0]}|1.2.0-snapshot-2" not in profiles:
        found.append(f"meta.profile lacks as-{tier}-{kind[0]}")
    if not any(p.startswith(FR_CORE + kind[1]) for p in profiles):
        found.append(f"meta.profile lacks the FR Core canonical {kind[1]} (1..1)")
    if resource.meta.source != SOURCE:
        found.append("meta.source is not https://annuaire.esante.gouv.fr (rs-as-core)")
    if resource.active is None:
        found.append("active is required (1..1)")
    return found


def _identifier_problems(resource: Any) -> list[str]:
    found = []
    slices = IDENTIFIER_SLICES.get(resource.get_resource_type(), {})
    for identifier in resource.identifier or ():
        if identifier.period is not None or identifier.assigner is not None:
            found.append("identifier.period and identifier.assigner are forbidden (0..0)")
        if identifier.system in slices:
            codes = {c.code for c in identifier.type.coding} if identifier.type else set()
            if not codes & slices[identifier.system] or identifier.use != "official":
                found.append(f"identifier {identifier.system} lacks its type / use official")
            if not identifier.value:
                found.append(f"identifier {identifier.system} lacks a value")
    return found


def _practitioner(resource: Any, tier: str) -> list[str]:
    found = _identifier_problems(resource)
    systems = [i.system for i in resource.identifier or ()]
    if systems.count("urn:oid:1.2.250.1.71.4.2.1") != 1:
        found.append("identifier[idNatPs] is required once (1..1)")
    id_nats = [i.value for i in resource.identifier or () if i.system.endswith("4.2.1")]
    if (
        id_nats[:1]
        and id_nats[0].startswith("8")
        and systems.count("https://rpps.esante.gouv.fr") != 1
    ):
        found.append("identifier[rpps] is required once (1..1) for an RPPS idNat")
    if len(resource.name or ()) > 1 or any(n.period for n in resource.name or ()):
        found.append("name is 0..1, without period")
    if tier == "dp":
        for element in ("gender", "birthDate", "photo", "address", "communication", "telecom"):
            if getattr(resource, element):
                found.append(f"{element} is restricted data: forbidden in as-dp-practitioner")
    for qualification in resource.qualification or ():
        if qualification.period is not None:
            found.append("qualification.period is forbidden (0..0)")
        if not all(c.system and c.code for c in qualification.code.coding):
            found.append("a qualification coding lacks its system or code")
    for extension in resource.extension or ():
        if extension.url.endswith(("as-ext-registration", "as-ext-digital-certificate")):
            found.append(f"{extension.url} is forbidden in as-dp-practitioner")
        if extension.url == IG + "as-ext-smartcard":
            parts = {sub.url for sub in extension.extension or ()}
            if tier == "dp" and "oppositionDate" in parts:
                found.append("as-ext-smartcard.oppositionDate is forbidden (0..0)")
            if not parts <= {"type", "number", "period", "oppositionDate"}:
                found.append(f"unknown as-ext-smartcard parts {parts}")
    return found


def _practitioner_role(resource: Any, tier: str) -> list[str]:
    found = []
    situations = [i for i in resource.identifier or () if i.system == "https://rpps.esante.gouv.fr"]
    if tier == "dp" and len(situations) != 1:
        found.append("identifier[idSituationExercice] is required once (1..1)")
    if resource.practitioner is None:
        found.append("practitioner is required (1..1)")
    for element in (
        "period",
        "specialty",
        "healthcareService",
        "availableTime",
        "notAvailable",
        "availabilityExceptions",
        "endpoint",
    ):
        if getattr(resource, element):
            found.append(f"{element} is forbidden (0..0)")
    if tier == "dp" and resource.telecom:
        found.append("telecom is closed to mailbox-mss in as-dp-practitionerrole")
    for concept in resource.code or ():
        for coding in concept.coding:
            if coding.system not in ROLE_CODE_SYSTEMS:
                found.append(f"code {coding.code} from {coding.system}: not a profile slice")
    return found


def _organization(resource: Any, tier: str) -> list[str]:
    found = _identifier_problems(resource)
    if not (resource.identifier or resource.name):
        found.append("org-1: an identifier or a name")
    if resource.contact or resource.endpoint:
        found.append("contact and endpoint are forbidden (0..0)")
    if any(t.period for t in resource.telecom or ()):
        found.append("telecom.period is forbidden (0..0)")
    types = {}
    for concept in resource.type or ():
        slices = [e.valueCode for e in concept.extension or () if e.url.endswith("types")]
        if len(slices) != 1 or len(concept.coding) != 1 or not concept.coding[0].system:
            found.append("each type has one as-ext-organization-types and one coding")
            continue
        types[slices[0]] = concept.coding[0]
    organization_type = types.get("organizationType")
    if organization_type is None or organization_type.code not in (
        "GEOGRAPHICAL-ENTITY",
        "LEGAL-ENTITY",
    ):
        found.append("type[organizationType] must be GEOGRAPHICAL-ENTITY or LEGAL-ENTITY")
    sector = types.get("secteurActiviteRASS")
    if sector and sector.system != NOS + "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite":
        found.append("type[secteurActiviteRASS] must come from TRE_R02")
    for extension in resource.extension or ():
        if extension.url.endswith("as-ext-digital-certificate"):
            found.append("as-ext-digital-certificate is forbidden in as-dp-organization")
    return found
