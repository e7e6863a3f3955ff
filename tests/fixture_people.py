"""Find bundled fixture people by what they are for, so tests name their intent."""

from __future__ import annotations

from collections.abc import Callable

from idp.app import BUNDLED_FIXTURES
from idp.directory.index import Directory
from idp.directory.model import Practitioner
from idp.mockdata import Identity, load_identities

_directory = Directory.from_fixtures(BUNDLED_FIXTURES / "annuaire")
_identities = load_identities(BUNDLED_FIXTURES / "credentials.yaml", now=0)


def person(
    predicate: Callable[[Practitioner, Identity], bool], *, policy: str | None = None
) -> Practitioner:
    for practitioner in _directory.all():
        identity = _identities.get(practitioner.id_nat) or Identity.default(practitioner.id_nat)
        if (policy is None or identity.policy == policy) and predicate(practitioner, identity):
            return practitioner
    raise LookupError("no fixture person matches")


def identity(id_nat: str) -> Identity:
    return _identities[id_nat]


def professions(practitioner: Practitioner) -> set[str]:
    return {e.code_profession for e in practitioner.exercices}


def auto_medecin() -> Practitioner:
    return person(lambda p, _: "10" in professions(p) and len(p.id_nat) == 12, policy="auto")
