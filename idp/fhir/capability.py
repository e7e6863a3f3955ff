"""``metadata``: the CapabilityStatement of what this mock serves, no more."""

from __future__ import annotations

from fhir.resources.R4B.capabilitystatement import (
    CapabilityStatement,
    CapabilityStatementImplementation,
    CapabilityStatementRest,
    CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction,
    CapabilityStatementRestResourceSearchParam,
    CapabilityStatementRestSecurity,
    CapabilityStatementSoftware,
)

from idp.fhir.resources import DIRECTORY_UPDATED, IG, IG_VERSION
from idp.fhir.search import (
    INCLUDES,
    ORGANIZATION,
    PARAMETERS,
    PRACTITIONER,
    RESOURCE_TYPES,
    ROLE,
)
from idp.settings import Settings

_HL7 = "http://hl7.org/fhir/SearchParameter/"
_IG_PARAMETER = "https://interop.esante.gouv.fr/ig/fhir/annuaire/SearchParameter/"
_PROFILES = {
    PRACTITIONER: "practitioner",
    ROLE: "practitionerrole",
    ORGANIZATION: "organization",
}
_DOCUMENTATION = {
    "_id": "Id technique de la ressource (003-… Practitioner, 005-… PractitionerRole, "
    "001-… Organization).",
    "_lastUpdated": "Date de dernière mise à jour (eq, ne, gt, ge, lt, le, sa, eb).",
    "active": "Ressources actives (true) : toutes le sont.",
    "identifier": "Identifiant métier : idNat ou RPPS (Practitioner), identifiant de "
    "situation d'exercice (PractitionerRole), idNatSt, FINESS, SIRET, SIREN, identifiant "
    "technique (Organization) ; avec ou sans system|.",
    "family": "Nom d'exercice (commence par ; :exact, :contains).",
    "given": "Prénom d'exercice (commence par ; :exact, :contains).",
    "name": "Nom, prénom, civilité ou civilité d'exercice (Practitioner) ; raison sociale "
    "ou enseigne (Organization).",
    "qualification-code": "Profession, catégorie professionnelle, type de savoir-faire, "
    "savoir-faire.",
    "number-smartcard": "Numéro de carte CPx.",
    "practitioner": "Practitioner de la situation d'exercice.",
    "organization": "Organization de la situation d'exercice.",
    "role": "Fonction ou rôle, genre d'activité, mode d'exercice, section du tableau des "
    "pharmaciens.",
    "type": "Type de structure (GEOGRAPHICAL-ENTITY, LEGAL-ENTITY) ou secteur d'activité.",
}
_IG_DEFINED = {"qualification-code", "number-smartcard"}


def capability_statement(base: str, settings: Settings) -> CapabilityStatement:
    from importlib.metadata import PackageNotFoundError, version

    try:
        software_version = version("psc-mock")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        software_version = None
    tier = "dr" if settings.fhir_restricted else "dp"
    key = (
        f"Clé d'API dans l'en-tête ESANTE-API-KEY ({len(settings.fhir_api_keys)} configurée(s))."
        if settings.fhir_api_keys
        else "Aucune clé d'API demandée (fhir_api_keys vide) ; l'API réelle exige ESANTE-API-KEY."
    )
    return CapabilityStatement(
        status="active",
        date=DIRECTORY_UPDATED,
        publisher="psc-mock",
        kind="instance",
        software=CapabilityStatementSoftware(name="psc-mock", version=software_version),
        implementation=CapabilityStatementImplementation(
            description="Annuaire Santé FHIR API (mock over psc-mock's directory)", url=base
        ),
        fhirVersion="4.0.1",
        format=["application/fhir+json", "json"],
        rest=[
            CapabilityStatementRest(
                mode="server",
                security=CapabilityStatementRestSecurity(description=key),
                resource=[_resource(kind, tier) for kind in RESOURCE_TYPES],
            )
        ],
    )


def _resource(kind: str, tier: str) -> CapabilityStatementRestResource:
    includes = sorted(f"{s}:{p}" for (s, p) in INCLUDES if s == kind)
    revincludes = sorted(f"{s}:{p}" for (s, p), target in INCLUDES.items() if target == kind)
    return CapabilityStatementRestResource(
        type=kind,
        profile=f"{IG}as-{tier}-{_PROFILES[kind]}|{IG_VERSION}",
        interaction=[
            CapabilityStatementRestResourceInteraction(code="read"),
            CapabilityStatementRestResourceInteraction(code="search-type"),
        ],
        searchInclude=(["*", *includes] if includes else None),
        searchRevInclude=revincludes or None,
        searchParam=[
            CapabilityStatementRestResourceSearchParam(
                name=name,
                type=type_,
                definition=_definition(kind, name),
                documentation=_DOCUMENTATION.get(name),
            )
            for name, type_ in PARAMETERS[kind].items()
        ],
    )


def _definition(kind: str, name: str) -> str:
    if name in _IG_DEFINED:
        return f"{_IG_PARAMETER}as-sp-{name}"
    if name.startswith("_"):
        return f"{_HL7}Resource-{name[1:]}"
    return f"{_HL7}{kind}-{name}"
