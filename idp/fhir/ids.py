"""Stable resource ids, derived from the directory's identifiers, and back.

The real API's ids are opaque technical ids with a prefix per resource type
(``003-32783-88722`` for a Practitioner, ``005-…`` for a PractitionerRole, ``001-…`` for
an Organization). The mock keeps those prefixes, so that a client which confuses an id
with an identifier fails here as it would there, and derives the rest from identifiers:

- Practitioner: ``003-`` + idNat, ``/`` written ``-`` (an idNat never holds ``-``):
  ``003-899700100011``, ``003-335B000017-CPET00001``;
- PractitionerRole: the practitioner's part + ``-`` + the activity's rank (1, 2, …) among
  the person's distinct activities: ``005-899700100045-2``;
- Organization: ``001-`` + the structure key (its technical id, ``F35B000017``, or
  ``EJ`` + FINESS EJ for a legal entity); a character other than a letter, digit or ``-``
  is written ``.`` + its hex code.

Each ``parse_*`` returns None for an id this mock never gives out.
"""

from __future__ import annotations

import re

PRACTITIONER_PREFIX = "003-"
ROLE_PREFIX = "005-"
ORGANIZATION_PREFIX = "001-"
_MAX_ID = 64  # FHIR: [A-Za-z0-9\-\.]{1,64}
_ID_NAT = re.compile(r"[A-Za-z0-9]+(/[A-Za-z0-9]+)?")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PLAIN = re.compile(r"[A-Za-z0-9-]")
_ENCODED = re.compile(r"(?:[A-Za-z0-9-]|\.[0-9a-f]{2})+")


def practitioner_id(id_nat: str) -> str:
    return PRACTITIONER_PREFIX + id_nat.replace("/", "-")


def parse_practitioner_id(resource_id: str) -> str | None:
    """The idNat of a Practitioner id."""
    if not resource_id.startswith(PRACTITIONER_PREFIX) or not _FHIR_ID.fullmatch(resource_id):
        return None
    id_nat = resource_id[len(PRACTITIONER_PREFIX) :].replace("-", "/")
    return id_nat if _ID_NAT.fullmatch(id_nat) else None


def role_id(id_nat: str, rank: int) -> str:
    return f"{ROLE_PREFIX}{id_nat.replace('/', '-')}-{rank}"


def parse_role_id(resource_id: str) -> tuple[str, int] | None:
    """(idNat, rank) of a PractitionerRole id."""
    if not resource_id.startswith(ROLE_PREFIX) or not _FHIR_ID.fullmatch(resource_id):
        return None
    person, _, rank = resource_id[len(ROLE_PREFIX) :].rpartition("-")
    id_nat = person.replace("-", "/")
    if not (rank.isascii() and rank.isdigit() and _ID_NAT.fullmatch(id_nat)):
        return None
    return (id_nat, int(rank)) if int(rank) >= 1 else None


def situation_identifier(id_nat: str, rank: int) -> str:
    """The activity's identifier (idSituationExercice): idNat + ``-`` + rank."""
    return f"{id_nat}-{rank}"


def parse_situation_identifier(value: str) -> tuple[str, int] | None:
    id_nat, _, rank = value.rpartition("-")
    if not (rank.isascii() and rank.isdigit() and int(rank) >= 1 and _ID_NAT.fullmatch(id_nat)):
        return None
    return id_nat, int(rank)


def organization_id(key: str) -> str | None:
    """The Organization id of a structure key; None if it would not fit in a FHIR id."""
    escaped = "".join(
        char if _PLAIN.fullmatch(char) else "".join(f".{byte:02x}" for byte in char.encode())
        for char in key
    )
    resource_id = ORGANIZATION_PREFIX + escaped
    return resource_id if key and len(resource_id) <= _MAX_ID else None


def parse_organization_id(resource_id: str) -> str | None:
    """The structure key of an Organization id (only the form :func:`organization_id`
    gives)."""
    if not resource_id.startswith(ORGANIZATION_PREFIX):
        return None
    escaped = resource_id[len(ORGANIZATION_PREFIX) :]
    if not _ENCODED.fullmatch(escaped):
        return None
    raw = bytearray()
    position = 0
    while position < len(escaped):
        if escaped[position] == ".":
            raw.append(int(escaped[position + 1 : position + 3], 16))
            position += 3
        else:
            raw += escaped[position].encode()
            position += 1
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return key if organization_id(key) == resource_id else None
