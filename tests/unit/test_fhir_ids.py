"""FHIR ids: derived from identifiers, valid FHIR ids, and back."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.fhir import ids

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@pytest.mark.parametrize(
    ("id_nat", "resource_id"),
    [
        ("899700100011", "003-899700100011"),
        ("00B9400027", "003-00B9400027"),
        ("335B000017/CPET00001", "003-335B000017-CPET00001"),
        ("599900002900150/CPET00002", "003-599900002900150-CPET00002"),
        ("ANS20240315093000", "003-ANS20240315093000"),
    ],
)
def test_practitioner_ids_keep_the_real_prefix_and_the_id_nat(id_nat, resource_id):
    assert ids.practitioner_id(id_nat) == resource_id
    assert FHIR_ID.fullmatch(resource_id)
    assert ids.parse_practitioner_id(resource_id) == id_nat


def test_role_ids_add_the_activity_rank():
    assert ids.role_id("335B000017/CPET00001", 2) == "005-335B000017-CPET00001-2"
    assert ids.parse_role_id("005-335B000017-CPET00001-2") == ("335B000017/CPET00001", 2)
    assert ids.parse_role_id("005-899700100045-12") == ("899700100045", 12)
    assert ids.situation_identifier("899700100045", 2) == "899700100045-2"
    assert ids.parse_situation_identifier("899700100045-2") == ("899700100045", 2)


@pytest.mark.parametrize(
    "foreign",
    [
        "899700100011",  # an identifier, not an id
        "003-",
        "005-899700100011",  # no rank
        "005-899700100011-0",
        "005-899700100011-x",
        "001-899700100011",  # an Organization id given as a Practitioner's
        "003-8997/00100011",
        "003-a-b-c",
    ],
)
def test_foreign_ids_are_refused(foreign):
    assert ids.parse_practitioner_id(foreign) is None
    assert ids.parse_role_id(foreign) is None


def test_organization_ids_escape_what_a_fhir_id_cannot_hold():
    assert ids.organization_id("F35B000017") == "001-F35B000017"
    assert ids.organization_id("EJ35B000009") == "001-EJ35B000009"
    assert ids.organization_id("a/b é") == "001-a.2fb.20.c3.a9"
    assert ids.parse_organization_id("001-a.2fb.20.c3.a9") == "a/b é"
    assert ids.parse_organization_id("001-.41") is None  # "A" is written "A"
    assert ids.parse_organization_id("001-") is None
    assert ids.parse_organization_id("003-F35B000017") is None
    assert ids.organization_id("") is None
    assert ids.organization_id("X" * 61) is None  # longer than a FHIR id


@given(st.text(min_size=1, max_size=12))
def test_organization_ids_round_trip(key):
    resource_id = ids.organization_id(key)
    if resource_id is not None:
        assert FHIR_ID.fullmatch(resource_id)
        assert ids.parse_organization_id(resource_id) == key
