"""The NOS code systems ("TRE" tables) the directory files use, and their labels.

Each table is one JSON file in ``data/``, named by its short id (``G15`` for
``TRE_G15-ProfessionSante``), holding its name, OID, labels and deprecated codes. Two
value sets are unions of tables and are looked up the same way: ``J186`` (everything a
``Code profession`` column may hold: TRE_G15, R94, R95) and ``J108`` (everything a
``Code rôle`` column may hold: functions TRE_R21 and R96, roles TRE_R85).

Tables load on first use, once: importing this module reads nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

PROFESSIONS = "J186"
ROLES = "J108"


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    oid: str
    labels: MappingProxyType[str, str]
    deprecated: frozenset[str]


def label(table: str, code: str) -> str:
    """The label of ``code`` in ``table``; ``""`` for a code the table does not hold."""
    return _table(table).labels.get(code, "")


def is_known(table: str, code: str) -> bool:
    """Whether ``table`` holds ``code``, deprecated codes included."""
    return code in _table(table).labels


def is_deprecated(table: str, code: str) -> bool:
    """Whether ``code`` is deprecated in ``table`` (for a value set: in every table of it)."""
    return code in _table(table).deprecated


def oid(table: str) -> str:
    """The table's OID, ``""`` when the reference gives none."""
    return _table(table).oid


def name(table: str) -> str:
    """The table's full NOS name, e.g. ``TRE_G15-ProfessionSante``."""
    return _table(table).name


def codes(table: str) -> MappingProxyType[str, str]:
    """Every code of ``table`` with its label, in the table's order."""
    return _table(table).labels


@cache
def _table(short: str) -> _Table:
    """Read one table (or value set) from the package data; unknown ids raise KeyError."""
    try:
        text = resources.files(__package__).joinpath("data", f"{short}.json").read_text("utf-8")
    except FileNotFoundError:
        raise KeyError(f"unknown nomenclature table {short!r}") from None
    data: dict[str, Any] = json.loads(text)
    if "include" in data:
        return _union(data["name"], data["oid"], [_table(part) for part in data["include"]])
    return _Table(
        name=data["name"],
        oid=data["oid"],
        labels=MappingProxyType(data["codes"]),
        deprecated=frozenset(data.get("deprecated", ())),
    )


def _union(union_name: str, union_oid: str, parts: list[_Table]) -> _Table:
    """A value set: a code's label comes from a table where it is live, if any.

    Code 93 shows why: deprecated in TRE_G15, live in TRE_R95, so "Psychologue" is a
    live profession.
    """
    labels: dict[str, str] = {}
    for want_live in (True, False):
        for part in parts:
            for code, text in part.labels.items():
                if (code not in part.deprecated) == want_live:
                    labels.setdefault(code, text)
    live = {code for part in parts for code in part.labels if code not in part.deprecated}
    return _Table(
        name=union_name,
        oid=union_oid,
        labels=MappingProxyType(labels),
        deprecated=frozenset(labels.keys() - live),
    )
