"""A professional given as JSON (the model's shape, as ``GET /_mock/directory/{idNat}``
returns it), checked with the extraction loaders' rules before it enters the directory."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

from idp.directory import loaders
from idp.directory.codec import from_json, to_json
from idp.directory.identifiers import IdNatError, parse_id_nat
from idp.directory.model import Activite, AutreIdentifiant, Exercice, Practitioner


class PractitionerError(ValueError):
    """The JSON is not a valid professional; the message says which field and why."""


def practitioner_to_json(practitioner: Practitioner) -> dict[str, Any]:
    return json.loads(to_json(practitioner))


def practitioner_from_json(data: dict[str, Any], id_nat: str) -> Practitioner:
    if data.get("id_nat", id_nat) != id_nat:
        raise PractitionerError(f"id_nat {data['id_nat']!r} differs from the URL's {id_nat!r}")
    try:
        parsed = parse_id_nat(id_nat)
    except IdNatError as exc:
        raise PractitionerError(f"id_nat: {exc}") from exc
    data = {
        "type_identifiant": parsed.type_identifiant,
        "identifiant": parsed.identifiant,
        **data,
        "id_nat": id_nat,
    }
    _check_shape(data, Practitioner, "")
    for i, exercice in enumerate(data.get("exercices", [])):
        _check_shape(exercice, Exercice, f"exercices[{i}].")
        for j, activite in enumerate(exercice.get("activites", [])):
            _check_shape(activite, Activite, f"exercices[{i}].activites[{j}].")
    for i, other in enumerate(data.get("autres_identifiants", [])):
        _check_shape(other, AutreIdentifiant, f"autres_identifiants[{i}].")
    try:
        practitioner = from_json(json.dumps(data))
    except TypeError as exc:
        raise PractitionerError(str(exc)) from exc
    if not practitioner.autres_identifiants:  # as the loaders derive it
        practitioner = replace(
            practitioner, autres_identifiants=(loaders._derived_identifier(parsed),)
        )
    problems = [
        f"{column} « {value} » : {reason}"
        for row in _rows(practitioner)
        for column, value, reason, severity in loaders._row_problems(row)
        if severity == "error"
    ]
    if problems:
        raise PractitionerError("; ".join(dict.fromkeys(problems)))
    return practitioner


def _check_shape(data: Any, cls: type, where: str) -> None:
    if not isinstance(data, dict):
        raise PractitionerError(f"{where.rstrip('.') or 'body'}: expected an object")
    known = {f.name: f for f in fields(cls)}
    for name, value in data.items():
        if name not in known:
            raise PractitionerError(
                f"{where}{name}: unknown field (known: {', '.join(sorted(known))})"
            )
        kind = str(known[name].type)
        if kind == "str" and not isinstance(value, str):
            raise PractitionerError(f"{where}{name}: expected text, got {value!r}")
        if kind.startswith("tuple") and not isinstance(value, list):
            raise PractitionerError(f"{where}{name}: expected a list, got {value!r}")
        if kind.startswith("tuple[str") and not all(isinstance(v, str) for v in value):
            raise PractitionerError(f"{where}{name}: expected a list of texts")
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise PractitionerError(f"{where}{name}: expected an integer, got {value!r}")


def _rows(practitioner: Practitioner) -> list[dict[str, str]]:
    """The extraction rows this person would have, for the loaders' row rules."""
    base = {
        loaders.ID_NAT: practitioner.id_nat,
        loaders.TYPE_IDENTIFIANT: practitioner.type_identifiant,
        loaders.IDENTIFIANT: practitioner.identifiant,
        loaders.AUTRES_IDENTIFIANTS: ";".join(
            f"{o.identifiant},{o.origine},{o.qualite}" for o in practitioner.autres_identifiants
        ),
        **{
            column: getattr(practitioner, name)
            for name, column in loaders._PRACTITIONER_COLUMNS.items()
        },
    }
    rows = []
    for exercice in practitioner.exercices or (Exercice(),):
        row = {**base, **{c: getattr(exercice, n) for n, c in loaders._EXERCICE_COLUMNS.items()}}
        for activite in exercice.activites or (Activite(),):
            rows.append(
                {**row, **{c: getattr(activite, n) for n, c in loaders._ACTIVITE_COLUMNS.items()}}
            )
    return rows
