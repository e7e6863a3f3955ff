"""The bundled fictional directory and its mock-only facts cover what they promise."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from idp.directory.facets import departement
from idp.directory.identifiers import parse_id_nat
from idp.directory.loaders import load_file
from idp.directory.model import Practitioner

FIXTURES = Path(__file__).parents[2] / "fixtures"
ANNUAIRE = sorted((FIXTURES / "annuaire").glob("*.txt"))
IDENTITY_FIELDS = {"purpose", "policy", "delay", "claims", "registered", "ecps", "order", "cards"}
CARD_FIELDS = {"type", "serial", "pin", "puk", "not_after", "status"}


@pytest.fixture(scope="module")
def people() -> dict[str, Practitioner]:
    results = [load_file(path, strict=True) for path in ANNUAIRE]
    assert all(result.issues == () for result in results)  # no error, no warning either
    return {p.id_nat: p for result in results for p in result.practitioners}


@pytest.fixture(scope="module")
def identities() -> dict[str, dict]:
    return yaml.safe_load((FIXTURES / "credentials.yaml").read_text("utf-8"))["identities"]


def having(people: dict[str, Practitioner], **codes: str) -> list[Practitioner]:
    """People with one activity (or exercice) matching every given field."""

    def matches(person: Practitioner) -> bool:
        for exercice in person.exercices:
            for activite in exercice.activites or (None,):
                values = {**vars_of(exercice), **(vars_of(activite) if activite else {})}
                if all(values.get(field) == code for field, code in codes.items()):
                    return True
        return False

    return [person for person in people.values() if matches(person)]


def vars_of(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def test_the_directory_is_the_2024_layout_with_at_least_40_people(
    people: dict[str, Practitioner],
) -> None:
    assert [load_file(path, strict=True).layout for path in ANNUAIRE] == ["extraction-2024"]
    assert len(people) >= 40


def test_identifiers_are_in_test_ranges(people: dict[str, Practitioner]) -> None:
    kinds = Counter(parse_id_nat(id_nat).kind for id_nat in people)
    assert set(kinds) == {"RPPS", "ADELI", "FINESS_STAFF", "SIRET_STAFF", "EDIT"}
    for id_nat in people:
        kind = parse_id_nat(id_nat).kind
        assert kind != "RPPS" or id_nat.startswith("8997")
        assert kind != "ADELI" or not id_nat[1:].isdigit()  # test ADELI: a letter in it


@pytest.mark.parametrize(
    ("what", "codes", "at_least"),
    [
        ("médecins généralistes SM26", {"code_profession": "10", "code_savoir_faire": "SM26"}, 1),
        ("médecins généralistes SM53", {"code_profession": "10", "code_savoir_faire": "SM53"}, 1),
        ("médecins généralistes SM54", {"code_profession": "10", "code_savoir_faire": "SM54"}, 1),
        ("spécialistes", {"code_profession": "10", "code_savoir_faire": "SM04"}, 1),
        ("pharmacien d'officine", {"code_profession": "21", "code_section_pharmacien": "A"}, 1),
        ("pharmacien hospitalier", {"code_profession": "21", "code_section_pharmacien": "H"}, 1),
        ("pharmacien biologiste", {"code_profession": "21", "code_section_pharmacien": "G"}, 1),
        ("chirurgien-dentiste", {"code_profession": "40"}, 1),
        ("sage-femme", {"code_profession": "50"}, 1),
        ("infirmiers", {"code_profession": "60"}, 5),
        ("masseur-kinésithérapeute", {"code_profession": "70"}, 1),
        ("psychomotricien", {"code_profession": "96"}, 1),
        ("ergothérapeute", {"code_profession": "94"}, 1),
        ("aide-soignant", {"code_role": "313", "code_profession": ""}, 1),
        ("éducateur spécialisé", {"code_role": "326", "code_profession": ""}, 1),
        ("secrétaire médicale", {"code_role": "331", "code_profession": ""}, 1),
        ("directeur", {"code_role": "359", "code_profession": ""}, 1),
        ("GENR08", {"code_genre_activite": "GENR08"}, 1),
        ("GENR09", {"code_genre_activite": "GENR09"}, 1),
        ("GENR10", {"code_genre_activite": "GENR10"}, 1),
        ("GENR11", {"code_genre_activite": "GENR11"}, 1),
        ("GENR12", {"code_genre_activite": "GENR12"}, 1),
        ("interne", {"code_categorie_professionnelle": "E", "code_role": "FON-48"}, 1),
        ("docteur junior", {"code_categorie_professionnelle": "E", "code_role": "FON-57"}, 1),
        ("étudiant infirmier", {"code_categorie_professionnelle": "E", "code_role": "346"}, 1),
        ("militaire", {"code_categorie_professionnelle": "M", "code_secteur_activite": "SA02"}, 1),
        ("CHU", {"code_secteur_activite": "SA01"}, 1),
        ("officine", {"code_secteur_activite": "SA33"}, 1),
        ("laboratoire", {"code_secteur_activite": "SA25"}, 1),
        ("EHPAD", {"code_secteur_activite": "SA17"}, 1),
        ("ESMS personnes handicapées", {"code_secteur_activite": "SA16"}, 1),
    ],
)
def test_every_required_kind_of_person_is_there(
    people: dict[str, Practitioner], what: str, codes: dict[str, str], at_least: int
) -> None:
    assert len(having(people, **codes)) >= at_least, what


def test_overseas_departments_are_represented(people: dict[str, Practitioner]) -> None:
    departements = {departement(a) for p in people.values() for a in p.activites}
    assert {"971", "974"} <= departements


def test_activity_shapes_are_represented(people: dict[str, Practitioner]) -> None:
    modes = [{a.code_mode_exercice for a in p.activites} for p in people.values()]
    assert {"L", "S"} in modes  # liberal and salaried at once
    assert max(len(p.activites) for p in people.values()) >= 3
    assert any(len(p.exercices) >= 2 for p in people.values())
    ended = [p for p in people.values() if p.exercices and not p.activites]
    assert len(ended) == 1


def test_role_only_people_have_no_profession(people: dict[str, Practitioner]) -> None:
    for person in having(people, code_profession=""):
        assert all(e.code_profession == "" for e in person.exercices)
        assert all(a.code_role for a in person.activites)


def test_every_person_has_an_identity_and_every_identity_a_person(
    people: dict[str, Practitioner], identities: dict[str, dict]
) -> None:
    assert all(isinstance(id_nat, str) for id_nat in identities)  # quoted in the YAML
    assert set(identities) == set(people)
    for id_nat, identity in identities.items():
        assert set(identity) <= IDENTITY_FIELDS, id_nat
        assert identity["purpose"], id_nat


def test_policies_give_ci_one_auto_identity_of_each_kind(
    people: dict[str, Practitioner], identities: dict[str, dict]
) -> None:
    policies = Counter(identity.get("policy", "manual") for identity in identities.values())
    assert (policies["deny"], policies["timeout"]) == (1, 1)
    assert policies["manual"] > policies["auto"]
    auto = [people[id_nat] for id_nat, i in identities.items() if i.get("policy") == "auto"]
    professions = {e.code_profession for p in auto for e in p.exercices}
    assert {"10", "21", "60", ""} <= professions
    assert any(p.id_nat.startswith("ANS") for p in auto)


def test_ecps_and_propagation_cases(
    people: dict[str, Practitioner], identities: dict[str, dict]
) -> None:
    not_activated = {i for i, identity in identities.items() if "ecps" in identity}
    assert all(identities[i]["ecps"]["activated"] is False for i in not_activated)
    assert len(not_activated) >= 5
    [recent] = [i for i, identity in identities.items() if identity["registered"] == "-12h"]
    assert recent in not_activated
    assert people[recent].exercices[0].code_profession == "10"


def test_the_dom_nurse_has_a_mobile_without_country_code(
    people: dict[str, Practitioner], identities: dict[str, dict]
) -> None:
    nurses = having(people, code_profession="60", code_departement="974")
    [nurse] = nurses
    mobile = identities[nurse.id_nat]["order"]["mobile"]
    assert re.fullmatch(r"0[0-9]{9}", mobile)
    assert identities[nurse.id_nat]["ecps"]["activated"] is False


def test_cards_are_well_formed_unique_and_only_where_they_belong(
    people: dict[str, Practitioner], identities: dict[str, dict]
) -> None:
    cards = [(i, card) for i, identity in identities.items() for card in identity.get("cards", ())]
    serials = [card["serial"] for _, card in cards]
    assert len(serials) == len(set(serials))
    for id_nat, card in cards:
        assert set(card) <= CARD_FIELDS
        assert re.fullmatch(r"[0-9]{10}", card["serial"])
        assert (card["pin"], card["puk"]) == ("1234", "12345678")
        assert card["type"] in {"CPS", "CPF", "CPE", "CPA"}
        person = people[id_nat]
        assert not id_nat.startswith("ANS"), "EDIT identities have no card"
        if parse_id_nat(id_nat).kind in {"RPPS", "ADELI"}:
            assert all(e.code_profession for e in person.exercices), "no card for role-only"
    holders = {i for i, _ in cards}
    professionals = [p for p in people.values() if any(e.code_profession for e in p.exercices)]
    assert sum(p.id_nat in holders for p in professionals) > len(professionals) * 2 / 3
    assert {card["type"] for _, card in cards} == {"CPS", "CPF", "CPE", "CPA"}
