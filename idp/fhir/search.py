"""The real API's search parameters, run against the directory's index.

A search is parsed into index lookups (:class:`~idp.directory.index.Match` groups, so that
an identifier is a primary-key or facet lookup however large the index) and exact tests
on the resources those lookups yield (FHIR's string, token, reference and date
semantics), then paged by key: a page ends with a ``next`` link carrying ``_after`` (the
last id served), and has a ``previous`` link carrying ``_before`` (its first id), so that
paging costs the same on page 1 and on page 10 000.

Parameters (all resource types): ``_id``, ``_lastUpdated``, ``active``, ``identifier``,
``_count``, ``_include`` / ``_revinclude`` (``:iterate`` too), ``_format``, ``_pretty``;
Practitioner: ``family``, ``given``, ``name``, ``qualification-code``,
``number-smartcard``; PractitionerRole: ``practitioner``, ``organization``, ``role``;
Organization: ``name``, ``type``. Strings take ``:exact`` and ``:contains``. Anything else
is refused with an OperationOutcome (400), as a strict FHIR server does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from idp.directory.facets import (
    GEOGRAPHICAL_ENTITY,
    LEGAL_ENTITY,
    STRUCTURE,
    STRUCTURE_CODE,
    STRUCTURE_ID,
    STRUCTURE_WORD,
    fold,
    legal_entity_key,
    structure_key,
    words,
)
from idp.directory.index import IDNAT, Directory, Match
from idp.directory.model import Practitioner
from idp.fhir import ids
from idp.fhir.resources import (
    DIRECTORY_UPDATED,
    GEOGRAPHICAL,
    IDNPS_SYSTEM,
    LEGAL,
    RPPS_SYSTEM,
    SMARTCARD,
    ResourceBuilder,
    Situation,
    Structure,
    shown_cards,
    situations,
    structure_of,
)
from idp.mockdata import MockData

PRACTITIONER = "Practitioner"
ROLE = "PractitionerRole"
ORGANIZATION = "Organization"
RESOURCE_TYPES = (PRACTITIONER, ROLE, ORGANIZATION)
DEFAULT_COUNT = 50
MAX_COUNT = 1000
_BATCH = 100  # units (people, structures) fetched at a time while filling a page
_MAX_ITERATE = 5  # rounds of :iterate includes


class SearchError(Exception):
    """A request the API refuses: HTTP status, FHIR issue type and a diagnostic."""

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics


def bad_request(diagnostics: str) -> SearchError:
    return SearchError(400, "invalid", diagnostics)


# Entities ---------------------------------------------------------------------------------


@dataclass(eq=False)
class Entity:
    """A resource served, with the directory object it comes from and its sort key."""

    type: str
    id: str
    sort_key: tuple[str, int]
    source: Practitioner | Situation | Structure
    resource: Any  # the fhir.resources model


# Parameters -------------------------------------------------------------------------------

Test = Callable[[Entity], bool]


@dataclass(frozen=True)
class Include:
    source: str  # the resource type holding the reference
    param: str
    target: str  # the referenced type
    reverse: bool
    iterate: bool


INCLUDES = {
    (ROLE, "practitioner"): PRACTITIONER,
    (ROLE, "organization"): ORGANIZATION,
    (ORGANIZATION, "partof"): ORGANIZATION,
}


@dataclass
class Query:
    """A parsed search: lookups for the index, tests for the resources, paging, includes."""

    type: str
    groups: list[list[Match]] = field(default_factory=list)
    exclude: set[str] = field(default_factory=set)
    tests: list[Test] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    after: str = ""  # resource id
    before: str = ""
    includes: list[Include] = field(default_factory=list)
    pretty: bool = False


_STRING_MODIFIERS = ("", "exact", "contains")
_COMMON = {"_id": "token", "_lastUpdated": "date", "active": "token", "identifier": "token"}
PARAMETERS: dict[str, dict[str, str]] = {
    PRACTITIONER: {
        **_COMMON,
        "family": "string",
        "given": "string",
        "name": "string",
        "qualification-code": "token",
        "number-smartcard": "string",
    },
    ROLE: {**_COMMON, "practitioner": "reference", "organization": "reference", "role": "token"},
    ORGANIZATION: {**_COMMON, "name": "string", "type": "token"},
}
RESULT_PARAMETERS = ("_count", "_include", "_revinclude", "_format", "_pretty", "_after", "_before")
JSON_FORMATS = ("json", "application/json", "application/fhir+json", "application/json+fhir")


def parse(
    resource_type: str, parameters: Iterable[tuple[str, str]], *, mockdata: MockData
) -> Query:
    """Parse a search's parameters, or raise :class:`SearchError` naming the bad one."""
    query = Query(resource_type)
    known = PARAMETERS[resource_type]
    for raw_name, value in parameters:
        name, _, modifier = raw_name.partition(":")
        if name in RESULT_PARAMETERS:
            _result_parameter(query, name, modifier, value)
            continue
        if name not in known:
            valid = ", ".join(sorted([*known, *RESULT_PARAMETERS]))
            raise bad_request(
                f"Unknown search parameter '{raw_name}' for resource type '{resource_type}'. "
                f"Valid search parameters for this search are: [{valid}]"
            )
        kind = known[name]
        allowed = _STRING_MODIFIERS if kind == "string" else ("",)
        if modifier not in allowed:
            raise bad_request(f"Modifier ':{modifier}' is not supported on parameter '{name}'")
        if value == "":
            continue  # FHIR: an empty parameter value is ignored
        _search_parameter(query, name, modifier, value, mockdata)
    if query.after and query.before:
        raise bad_request("_after and _before cannot be combined")
    for cursor in (query.after, query.before):
        if cursor and sort_key(resource_type, cursor) is None:
            raise bad_request(f"'{cursor}' is not a {resource_type} id of this server")
    return query


def _result_parameter(query: Query, name: str, modifier: str, value: str) -> None:
    if name in ("_include", "_revinclude"):
        if modifier not in ("", "iterate", "recurse"):
            raise bad_request(f"Modifier ':{modifier}' is not supported on {name}")
        query.includes += _parse_include(
            query.type, value, reverse=name == "_revinclude", iterate=bool(modifier)
        )
        return
    if modifier:
        raise bad_request(f"Modifier ':{modifier}' is not supported on {name}")
    if name == "_count":
        if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
            raise bad_request(f"Invalid _count '{value}': a whole number from 1 is expected")
        query.count = min(int(value), MAX_COUNT)
    elif name == "_format":
        if value not in JSON_FORMATS:
            raise SearchError(406, "not-supported", f"Format '{value}' is not supported: JSON only")
    elif name == "_pretty":
        if value not in ("true", "false"):
            raise bad_request(f"Invalid _pretty '{value}': true or false")
        query.pretty = value == "true"
    elif name == "_after":
        query.after = value
    elif name == "_before":
        query.before = value


def _parse_include(searched: str, value: str, *, reverse: bool, iterate: bool) -> list[Include]:
    name = "_revinclude" if reverse else "_include"
    if value == "*":
        found = [
            Include(source, param, target, reverse, iterate)
            for (source, param), target in INCLUDES.items()
            if iterate or (target if reverse else source) == searched
        ]
        return found
    parts = value.split(":")
    if len(parts) not in (2, 3) or (parts[0], parts[1]) not in INCLUDES:
        supported = ", ".join(f"{s}:{p}" for s, p in INCLUDES)
        raise bad_request(f"Invalid {name} '{value}': supported are {supported} and *")
    source, param = parts[0], parts[1]
    target = INCLUDES[(source, param)]
    if len(parts) == 3 and parts[2] != target:
        raise bad_request(f"Invalid {name} '{value}': {source}:{param} refers to {target}")
    if not iterate and (target if reverse else source) != searched:
        side = "refer to" if reverse else "start from"
        raise bad_request(
            f"Invalid {name} '{value}' on a {searched} search: it must {side} {searched} "
            f"(or use {name}:iterate)"
        )
    return [Include(source, param, target, reverse, iterate)]


def _search_parameter(
    query: Query, name: str, modifier: str, value: str, mockdata: MockData
) -> None:
    values = [part for part in re.split(r"(?<!\\),", value) if part]
    values = [part.replace("\\,", ",") for part in values]
    if not values:
        return
    handler = _HANDLERS.get((query.type, name)) or _HANDLERS[("*", name)]
    handler(query, values, modifier, mockdata)


# Common parameters ------------------------------------------------------------------------


def _id(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    wanted = set(values)
    keys = [sort_key(query.type, value) for value in values]
    if query.type == ORGANIZATION:
        query.groups.append([Match(STRUCTURE, key[0]) for key in keys if key])
    else:
        query.groups.append([Match(IDNAT, key[0]) for key in keys if key])
    query.tests.append(lambda entity: entity.id in wanted)


def _active(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    flags = set()
    for value in values:
        if value not in ("true", "false"):
            raise bad_request(f"Invalid value '{value}' for parameter 'active': true or false")
        flags.add(value == "true")
    if True not in flags:
        query.groups.append([])  # every resource served is active
    query.tests.append(lambda entity: bool(entity.resource.active) in flags)


def _last_updated(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    if len(values) > 1:
        raise bad_request("_lastUpdated takes one date per parameter (repeat it for a range)")
    accepts = parse_date(values[0])
    if query.type == ORGANIZATION:
        if not accepts(DIRECTORY_UPDATED):
            query.groups.append([])
    else:
        dated = {
            id_nat: _instant(identity.registered_at)
            for id_nat, identity in mockdata.identities.items()
            if identity.registered_at
        }
        if accepts(DIRECTORY_UPDATED):
            query.exclude |= {id_nat for id_nat, when in dated.items() if not accepts(when)}
        else:
            query.groups.append(
                [Match(IDNAT, id_nat) for id_nat, when in dated.items() if accepts(when)]
            )
    query.tests.append(lambda entity: accepts(entity.resource.meta.lastUpdated))


def last_updated(mockdata: MockData, id_nat: str) -> datetime:
    """When a person's resources were last updated: their registration (credentials.yaml),
    else the directory's date."""
    registered = mockdata.identity(id_nat).registered_at
    return _instant(registered) if registered else DIRECTORY_UPDATED


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=UTC)


# Practitioner -----------------------------------------------------------------------------


def _practitioner_identifier(
    query: Query, values: list[str], modifier: str, mockdata: MockData
) -> None:
    tokens = [parse_token(value) for value in values]
    candidates: list[Match] | None = []
    for system, code in tokens:
        if code is None:
            candidates = None  # system| alone: every identifier of that system
            break
        if system in (None, IDNPS_SYSTEM):
            candidates.append(Match(IDNAT, code))
        if system in (None, RPPS_SYSTEM) and re.fullmatch(r"[0-9]{11}", code):
            candidates.append(Match(IDNAT, "8" + code))
    if candidates is not None:
        query.groups.append(candidates)
    query.tests.append(lambda entity: _any_identifier(entity.resource, tokens))


def _qualification_code(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    tokens = [parse_token(value) for value in values]
    if all(code for _, code in tokens):
        query.groups.append([Match("qualification", code) for _, code in tokens if code])

    def test(entity: Entity) -> bool:
        codings = [c for q in entity.resource.qualification or () for c in q.code.coding or ()]
        return any(token_matches(tokens, c.system, c.code) for c in codings)

    query.tests.append(test)


def _name_parameter(part: str) -> Callable[[Query, list[str], str, MockData], None]:
    def handler(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
        if modifier != "contains":
            kinds = ("word", "civilite") if part == "name" else ("word",)
            _add_word_groups(query, values, kinds)

        def test(entity: Entity) -> bool:
            name = (entity.resource.name or [None])[0]
            if name is None:
                return False
            texts = {
                "family": [name.family],
                "given": list(name.given or ()),
                "name": [
                    name.family,
                    *(name.given or ()),
                    *(name.prefix or ()),
                    *(name.suffix or ()),
                    " ".join([*(name.given or ()), name.family or ""]),
                ],
            }[part]
            return any(string_matches(modifier, text, value) for text in texts for value in values)

        query.tests.append(test)

    return handler


def _number_smartcard(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    owners = [
        Match(IDNAT, id_nat)
        for id_nat, identity in mockdata.identities.items()
        if any(
            string_matches(modifier, card.serial, value)
            for card in shown_cards(identity)
            for value in values
        )
    ]
    query.groups.append(owners)

    def test(entity: Entity) -> bool:
        numbers = [
            sub.valueString
            for ext in entity.resource.extension or ()
            if ext.url == SMARTCARD
            for sub in ext.extension or ()
            if sub.url == "number"
        ]
        return any(string_matches(modifier, n, v) for n in numbers for v in values)

    query.tests.append(test)


# PractitionerRole -------------------------------------------------------------------------


def _role_identifier(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    tokens = [parse_token(value) for value in values]
    candidates: list[Match] | None = []
    for system, code in tokens:
        if code is None:
            candidates = None
            break
        parsed = ids.parse_situation_identifier(code)
        if parsed and system in (None, RPPS_SYSTEM):
            candidates.append(Match(IDNAT, parsed[0]))
    if candidates is not None:
        query.groups.append(candidates)
    query.tests.append(lambda entity: _any_identifier(entity.resource, tokens))


def _reference_ids(values: list[str], target: str) -> list[str]:
    """The ids a reference parameter names: ``id``, ``Type/id`` or an absolute URL."""
    found = []
    for value in values:
        parts = value.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] != target:
            continue  # a reference to another type matches nothing here
        found.append(parts[-1])
    return found


def _role_practitioner(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    wanted = set(_reference_ids(values, PRACTITIONER))
    query.groups.append(
        [Match(IDNAT, id_nat) for i in wanted if (id_nat := ids.parse_practitioner_id(i))]
    )
    query.tests.append(
        lambda entity: entity.resource.practitioner.reference.rpartition("/")[2] in wanted
    )


def _role_organization(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    wanted = set(_reference_ids(values, ORGANIZATION))
    query.groups.append(
        [Match(STRUCTURE, key) for i in wanted if (key := ids.parse_organization_id(i))]
    )

    def test(entity: Entity) -> bool:
        reference = entity.resource.organization
        return reference is not None and reference.reference.rpartition("/")[2] in wanted

    query.tests.append(test)


def _role_code(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    tokens = [parse_token(value) for value in values]
    if all(code for _, code in tokens):
        query.groups.append(
            [Match(kind, code) for _, code in tokens if code for kind in ("role", "activite-code")]
        )

    def test(entity: Entity) -> bool:
        codings = [c for concept in entity.resource.code or () for c in concept.coding or ()]
        return any(token_matches(tokens, c.system, c.code) for c in codings)

    query.tests.append(test)


# Organization -----------------------------------------------------------------------------


def _organization_identifier(
    query: Query, values: list[str], modifier: str, mockdata: MockData
) -> None:
    tokens = [parse_token(value) for value in values]
    if all(code for _, code in tokens):
        query.groups.append([Match(STRUCTURE_ID, code) for _, code in tokens if code])
    query.tests.append(lambda entity: _any_identifier(entity.resource, tokens))


def _organization_name(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    if modifier != "contains":
        _add_word_groups(query, values, (STRUCTURE_WORD,))

    def test(entity: Entity) -> bool:
        texts = [entity.resource.name, *(entity.resource.alias or ())]
        return any(string_matches(modifier, text, value) for text in texts for value in values)

    query.tests.append(test)


_TYPE_FACETS = {GEOGRAPHICAL: GEOGRAPHICAL_ENTITY, LEGAL: LEGAL_ENTITY}


def _organization_type(query: Query, values: list[str], modifier: str, mockdata: MockData) -> None:
    tokens = [parse_token(value) for value in values]
    if all(code for _, code in tokens):
        query.groups.append(
            [Match(STRUCTURE_CODE, _TYPE_FACETS.get(code, code)) for _, code in tokens if code]
        )

    def test(entity: Entity) -> bool:
        codings = [c for concept in entity.resource.type or () for c in concept.coding or ()]
        return any(token_matches(tokens, c.system, c.code) for c in codings)

    query.tests.append(test)


_HANDLERS: dict[tuple[str, str], Callable[[Query, list[str], str, MockData], None]] = {
    ("*", "_id"): _id,
    ("*", "active"): _active,
    ("*", "_lastUpdated"): _last_updated,
    (PRACTITIONER, "identifier"): _practitioner_identifier,
    (PRACTITIONER, "qualification-code"): _qualification_code,
    (PRACTITIONER, "family"): _name_parameter("family"),
    (PRACTITIONER, "given"): _name_parameter("given"),
    (PRACTITIONER, "name"): _name_parameter("name"),
    (PRACTITIONER, "number-smartcard"): _number_smartcard,
    (ROLE, "identifier"): _role_identifier,
    (ROLE, "practitioner"): _role_practitioner,
    (ROLE, "organization"): _role_organization,
    (ROLE, "role"): _role_code,
    (ORGANIZATION, "identifier"): _organization_identifier,
    (ORGANIZATION, "name"): _organization_name,
    (ORGANIZATION, "type"): _organization_type,
}


def _add_word_groups(query: Query, values: list[str], kinds: Sequence[str]) -> None:
    """Index lookups for string values: with one value, each of its words must begin a
    word the index holds; with several (OR), the first word of one of them must."""
    if len(values) == 1:
        for word in words(values[0]):
            query.groups.append([Match(kind, word, prefix=True) for kind in kinds])
        return
    firsts = [found[0] for value in values if (found := words(value))]
    if len(firsts) == len(values):
        query.groups.append([Match(kind, w, prefix=True) for w in firsts for kind in kinds])


# Value semantics ----------------------------------------------------------------------------


def parse_token(value: str) -> tuple[str | None, str | None]:
    """``system|code``, ``|code`` (no system), ``code`` (any system), ``system|`` (any
    code): (system, code), with "" for "no system" and None for "any"."""
    if "|" not in value:
        return None, value
    system, _, code = value.partition("|")
    return system, code or None


def token_matches(tokens: list[tuple[str | None, str | None]], system: Any, code: Any) -> bool:
    for wanted_system, wanted_code in tokens:
        if wanted_code is not None and wanted_code != code:
            continue
        if wanted_system is None or (wanted_system or None) == (system or None):
            return True
    return False


def _any_identifier(resource: Any, tokens: list[tuple[str | None, str | None]]) -> bool:
    return any(
        token_matches(tokens, identifier.system, identifier.value)
        for identifier in resource.identifier or ()
    )


def string_matches(modifier: str, text: str | None, value: str) -> bool:
    """FHIR string search: starts with (case and accents ignored), ``:exact`` (equal, case
    and accents kept), ``:contains`` (anywhere, case and accents ignored)."""
    if not text:
        return False
    if modifier == "exact":
        return text == value
    if modifier == "contains":
        return fold(value) in fold(text)
    return fold(text).startswith(fold(value))


_DATE = re.compile(
    r"(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb)?"
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.[0-9]+)?)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)


def parse_date(value: str) -> Callable[[datetime], bool]:
    """A date parameter (``ge2024-08-30``, ``lt2025-01-01T10:00:00+01:00`` …) as a test on
    an instant. The value stands for the whole interval its precision covers; a time
    without zone is UTC. ``ap`` is not supported."""
    match = _DATE.fullmatch(value)
    if not match:
        raise bad_request(
            f"Invalid date '{value}': [eq|ne|gt|lt|ge|le|sa|eb]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]"
        )
    parts = match.groupdict()
    try:
        zone = UTC
        if parts["zone"] and parts["zone"] != "Z":
            sign = 1 if parts["zone"][0] == "+" else -1
            hours, minutes = map(int, parts["zone"][1:].split(":"))
            zone = _offset(sign * (hours * 60 + minutes))
        low = datetime(
            int(parts["year"]),
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            tzinfo=zone,
        )
    except ValueError as error:
        raise bad_request(f"Invalid date '{value}': {error}") from None
    high = _next(low, parts)
    prefix = parts["prefix"] or "eq"
    tests: dict[str, Callable[[datetime], bool]] = {
        "eq": lambda t: low <= t < high,
        "ne": lambda t: not low <= t < high,
        "gt": lambda t: t >= high,
        "sa": lambda t: t >= high,
        "ge": lambda t: t >= low,
        "lt": lambda t: t < low,
        "eb": lambda t: t < low,
        "le": lambda t: t < high,
    }
    return tests[prefix]


def _offset(minutes: int):
    from datetime import timezone

    return timezone(timedelta(minutes=minutes))


def _next(low: datetime, parts: dict[str, str | None]) -> datetime:
    """The end of the interval a date of this precision stands for."""
    if parts["second"]:
        return low + timedelta(seconds=1)
    if parts["minute"]:
        return low + timedelta(minutes=1)
    if parts["day"]:
        return low + timedelta(days=1)
    if parts["month"]:
        month = low.month % 12 + 1
        return low.replace(year=low.year + (low.month == 12), month=month)
    return low.replace(year=low.year + 1)


# Sort keys and ids ------------------------------------------------------------------------


def sort_key(resource_type: str, resource_id: str) -> tuple[str, int] | None:
    """The order of a resource among its type: by idNat (then rank) or structure key."""
    if resource_type == PRACTITIONER:
        id_nat = ids.parse_practitioner_id(resource_id)
        return (id_nat, 0) if id_nat else None
    if resource_type == ROLE:
        return ids.parse_role_id(resource_id)
    key = ids.parse_organization_id(resource_id)
    return (key, 0) if key else None


# The engine -------------------------------------------------------------------------------


@dataclass
class Page:
    matches: list[Entity]
    included: list[Entity]
    has_next: bool
    has_previous: bool


class Engine:
    """Reads and searches over one directory, building resources as it goes (one engine
    per request: it caches the structures it has looked up)."""

    def __init__(self, directory: Directory, builder: ResourceBuilder) -> None:
        self.directory = directory
        self.builder = builder
        self._structures: dict[str, Structure | None] = {}

    # Entities ---------------------------------------------------------------------------

    def practitioner_entity(self, person: Practitioner) -> Entity:
        return Entity(
            PRACTITIONER,
            ids.practitioner_id(person.id_nat),
            (person.id_nat, 0),
            person,
            self.builder.practitioner(person),
        )

    def role_entity(self, situation: Situation) -> Entity:
        return Entity(
            ROLE,
            situation.id,
            (situation.practitioner.id_nat, situation.rank),
            situation,
            self.builder.practitioner_role(situation),
        )

    def organization_entity(self, structure: Structure) -> Entity | None:
        if structure.id is None:
            return None
        resource = self.builder.organization(structure)
        return Entity(ORGANIZATION, structure.id, (structure.key, 0), structure, resource)

    def structure(self, key: str) -> Structure | None:
        """A structure as its first member (by idNat) describes it."""
        if key not in self._structures:
            members = self.directory.find([[Match(STRUCTURE, key)]], limit=1)
            self._structures[key] = structure_of(members[0], key) if members else None
        return self._structures[key]

    def members(self, key: str) -> Iterator[Practitioner]:
        """Everyone with an activity at the structure (or its sites, for a legal entity)."""
        after = ""
        while True:
            batch = self.directory.find([[Match(STRUCTURE, key)]], after=after, limit=500)
            yield from batch
            if len(batch) < 500:
                return
            after = batch[-1].id_nat

    # Read -------------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> Entity | None:
        key = sort_key(resource_type, resource_id)
        if key is None:
            return None
        if resource_type == ORGANIZATION:
            structure = self.structure(key[0])
            entity = self.organization_entity(structure) if structure else None
            return entity if entity and entity.id == resource_id else None
        person = self.directory.get(key[0])
        if person is None:
            return None
        if resource_type == PRACTITIONER:
            return self.practitioner_entity(person)
        for situation in situations(person):
            if situation.rank == key[1]:
                return self.role_entity(situation)
        return None

    # Search -----------------------------------------------------------------------------

    def search(self, query: Query) -> Page:
        def expand(unit: Any) -> list[Entity]:
            found = self._expand(query.type, unit)
            return [e for e in found if all(test(e) for test in query.tests)]

        if query.before:
            before = sort_key(query.type, query.before)
            assert before is not None
            matches, more = self._backward(query, expand, before)
            has_next, has_previous = True, more
        else:
            after = sort_key(query.type, query.after) if query.after else None
            matches, more = self._forward(query, expand, after)
            has_next, has_previous = more, bool(query.after)
        return Page(matches, self._includes(matches, query.includes), has_next, has_previous)

    def _expand(self, resource_type: str, unit: Any) -> list[Entity]:
        if resource_type == PRACTITIONER:
            return [self.practitioner_entity(unit)]
        if resource_type == ROLE:
            return [self.role_entity(situation) for situation in situations(unit)]
        structure = self.structure(unit)
        entity = self.organization_entity(structure) if structure else None
        return [entity] if entity else []

    def _units(
        self, query: Query, *, after: str = "", before: str = "", only: str = "", limit: int
    ) -> list[Any]:
        groups = list(query.groups)
        if query.type == ORGANIZATION:
            if only:
                groups.append([Match(STRUCTURE, only)])
            return self.directory.structures(groups, after=after, before=before, limit=limit)
        if only:
            groups.append([Match(IDNAT, only)])
        return self.directory.find(
            groups, exclude=query.exclude, after=after, before=before, limit=limit
        )

    @staticmethod
    def _unit_key(unit: Any) -> str:
        return unit if isinstance(unit, str) else unit.id_nat

    def _forward(
        self, query: Query, expand: Callable[[Any], list[Entity]], after: tuple[str, int] | None
    ) -> tuple[list[Entity], bool]:
        found: list[Entity] = []
        cursor = ""
        if after:
            cursor = after[0]
            for unit in self._units(query, only=cursor, limit=1):
                found += [e for e in expand(unit) if e.sort_key > after]
        while len(found) <= query.count:
            units = self._units(query, after=cursor, limit=_BATCH)
            for unit in units:
                found += expand(unit)
                if len(found) > query.count:
                    break
            if len(units) < _BATCH:
                break
            cursor = self._unit_key(units[-1])
        return found[: query.count], len(found) > query.count

    def _backward(
        self, query: Query, expand: Callable[[Any], list[Entity]], before: tuple[str, int]
    ) -> tuple[list[Entity], bool]:
        found: list[Entity] = []  # newest first
        cursor = before[0]
        for unit in self._units(query, only=cursor, limit=1):
            found += reversed([e for e in expand(unit) if e.sort_key < before])
        while len(found) <= query.count:
            units = self._units(query, before=cursor, limit=_BATCH)
            for unit in reversed(units):
                found += reversed(expand(unit))
                if len(found) > query.count:
                    break
            if len(units) < _BATCH:
                break
            cursor = self._unit_key(units[0])
        return list(reversed(found[: query.count])), len(found) > query.count

    # Includes ---------------------------------------------------------------------------

    def _includes(self, matches: list[Entity], specs: list[Include]) -> list[Entity]:
        seen = {(e.type, e.id) for e in matches}
        included: list[Entity] = []

        def add(candidates: Iterable[Entity]) -> list[Entity]:
            new = []
            for entity in candidates:
                if (entity.type, entity.id) not in seen:
                    seen.add((entity.type, entity.id))
                    new.append(entity)
            included.extend(new)
            return new

        frontier = add(e for spec in specs for e in self._related(matches, spec))
        iterating = [spec for spec in specs if spec.iterate]
        for _ in range(_MAX_ITERATE):
            if not frontier or not iterating:
                break
            pool = matches + included
            frontier = add(e for spec in iterating for e in self._related(pool, spec))
        return included

    def _related(self, entities: list[Entity], spec: Include) -> Iterator[Entity]:
        for entity in entities:
            if not spec.reverse and entity.type == spec.source:
                yield from self._referenced(entity, spec.param)
            elif spec.reverse and entity.type == spec.target:
                yield from self._referring(entity, spec)

    def _referenced(self, entity: Entity, param: str) -> Iterator[Entity]:
        source = entity.source
        if param == "practitioner" and isinstance(source, Situation):
            yield self.practitioner_entity(source.practitioner)
        elif param == "organization" and isinstance(source, Situation) and source.structure:
            structure = self.structure(source.structure)
            if structure and (found := self.organization_entity(structure)):
                yield found
        elif param == "partof" and isinstance(source, Structure) and not source.legal_entity:
            parent_key = legal_entity_key(source.activite)
            parent = self.structure(parent_key) if parent_key else None
            if parent and (found := self.organization_entity(parent)):
                yield found

    def _referring(self, entity: Entity, spec: Include) -> Iterator[Entity]:
        source = entity.source
        if spec.param == "practitioner" and isinstance(source, Practitioner):
            yield from (self.role_entity(s) for s in situations(source))
        elif spec.param == "organization" and isinstance(source, Structure):
            for person in self.members(source.key):
                for situation in situations(person):
                    if situation.structure == source.key:
                        yield self.role_entity(situation)
        elif spec.param == "partof" and isinstance(source, Structure) and source.legal_entity:
            keys = {
                structure_key(activite)
                for person in self.members(source.key)
                for activite in person.activites
                if legal_entity_key(activite) == source.key and structure_key(activite)
            }
            for key in sorted(keys):
                structure = self.structure(key)
                if structure and (found := self.organization_entity(structure)):
                    yield found
