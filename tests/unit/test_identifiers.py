"""Check digits, idNat forms and login hints, on the numbers quoted by the reference."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.directory.identifiers import (
    IdentifierError,
    IdNatError,
    check_adeli,
    check_adeli_key,
    check_finess,
    check_rpps,
    check_siren,
    check_siret,
    diagnose_login_input,
    luhn_key,
    luhn_valid,
    parse_id_nat,
)

# reference/annuaire-and-cps.md §A4
VALID = [
    "10001045367",  # RPPS, real
    "10000013994",
    "10005531586",
    "10104335319",
    "99700367917",  # RPPS, test cards
    "99700075064",
    "010000024",  # FINESS
    "010780054",
    "750712184",
    "200034528",  # SIREN
    "20003452800014",  # SIRET
    "012600631",  # ADELI (observed)
    "759124159",
    "629400748",
]


@pytest.mark.parametrize("number", VALID)
def test_luhn_accepts_the_reference_numbers(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["20003452800041", "10001045368", "", "1234a", "١٢٣"])
def test_luhn_refuses_wrong_keys_and_non_digits(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("without_key", "key"), [("1000104536", 7), ("01000002", 4), ("2000345280001", 4)]
)
def test_luhn_key_follows_the_worked_examples(without_key: str, key: int) -> None:
    assert luhn_key(without_key) == key


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_luhn_key_makes_any_number_valid_and_only_that_key(digits: str) -> None:
    key = luhn_key(digits)
    assert luhn_valid(digits + str(key))
    assert not any(luhn_valid(digits + str(other)) for other in range(10) if other != key)


def test_rpps_rules() -> None:
    check_rpps("99700367917")
    with pytest.raises(IdentifierError, match="clé de contrôle RPPS"):
        check_rpps("99700367918")
    with pytest.raises(IdentifierError, match="11 chiffres"):
        check_rpps("9970036791")


def test_finess_with_letters_is_a_test_finess_and_skips_luhn() -> None:
    check_finess("010000024")
    check_finess("0B0057881")
    with pytest.raises(IdentifierError, match="clé de contrôle FINESS"):
        check_finess("010000025")
    for malformed in ("0b0057881", "01000002", "0100000240"):
        with pytest.raises(IdentifierError, match="9 chiffres ou lettres"):
            check_finess(malformed)


def test_siren_and_siret_rules() -> None:
    check_siren("200034528")
    check_siret("20003452800014")
    with pytest.raises(IdentifierError, match="clé de contrôle SIREN"):
        check_siren("200034527")
    with pytest.raises(IdentifierError, match="clé de contrôle SIRET"):
        check_siret("20003452800041")
    with pytest.raises(IdentifierError, match="9 premiers chiffres"):
        check_siret("20003452700014")
    with pytest.raises(IdentifierError, match="14 chiffres"):
        check_siret("2000345280001")


def test_la_poste_siret_may_fail_luhn_when_its_digits_sum_to_a_multiple_of_5() -> None:
    assert not luhn_valid("35600000000001")
    check_siret("35600000000001")  # digit sum 15
    with pytest.raises(IdentifierError, match="La Poste"):
        check_siret("35600000000000")  # digit sum 14, Luhn fails


def test_adeli_format_is_checked_and_its_key_apart() -> None:
    check_adeli("012600631")
    check_adeli("0B6077602")  # test card, department "0B"
    with pytest.raises(IdentifierError, match="9 caractères"):
        check_adeli("01260063")
    check_adeli_key("759124159")
    check_adeli_key("0B6077602")  # letters: nothing to check
    with pytest.raises(IdentifierError, match="clé ADELI douteuse"):
        check_adeli_key("759124158")


@pytest.mark.parametrize(
    ("text", "kind", "type_identifiant", "identifiant", "origine"),
    [
        ("810001045367", "RPPS", "8", "10001045367", "RPPS"),
        ("899700367917", "RPPS", "8", "99700367917", "RPPS"),
        ("0012600631", "ADELI", "0", "012600631", "ADELI"),
        ("00B6077602", "ADELI", "0", "0B6077602", "ADELI"),
        ("30B0057881/CPET0002", "FINESS_STAFF", "3", "0B0057881/CPET0002", "FINESS"),
        ("3010000024/A1", "FINESS_STAFF", "3", "010000024/A1", "FINESS"),
        ("500000001815646/CPAT00045", "SIRET_STAFF", "5", "00000001815646/CPAT00045", "SIRET"),
        ("ANS20220215183932", "EDIT", "", "ANS20220215183932", "EDIT"),
    ],
)
def test_parse_id_nat_splits_every_form(
    text: str, kind: str, type_identifiant: str, identifiant: str, origine: str
) -> None:
    id_nat = parse_id_nat(text)
    assert (id_nat.kind, id_nat.type_identifiant, id_nat.identifiant, id_nat.id_nat) == (
        kind,
        type_identifiant,
        identifiant,
        text,
    )
    assert id_nat.origine == origine


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "identifiant national vide"),
        ("99700367917", "aucune forme d'identifiant national"),
        ("ans20220215183932", "aucune forme d'identifiant national"),
        ("899700367918", "clé de contrôle RPPS invalide"),
        ("89970036791", "12 caractères"),
        ("899700367917 ", "12 caractères"),
        ("0012600", "9 caractères"),
        ("30B0057881", "3 + FINESS + / + identifiant"),
        ("30B0057881/", "3 + FINESS + / + identifiant"),
        ("30B0057881/CP-T", "3 + FINESS + / + identifiant"),
        ("30b0057881/CPET0002", "lettres majuscules"),
        ("3010000025/A1", "clé de contrôle FINESS invalide"),
        ("500000001815647/CPAT00045", "clé de contrôle SIRET invalide"),
        ("5000000018/CPAT00045", "14 chiffres"),
        ("ANS2022021518393", "aaaammjjhhmmss"),
        ("ANS20221315183932", "aaaammjjhhmmss"),
    ],
)
def test_parse_id_nat_says_in_french_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(IdNatError, match=re.escape(fragment)) as raised:
        parse_id_nat(text)
    assert isinstance(raised.value, ValueError)


@given(st.text(max_size=30))
def test_parse_id_nat_returns_the_same_idnat_or_raises_idnaterror(text: str) -> None:
    try:
        id_nat = parse_id_nat(text)
    except IdNatError:
        assert diagnose_login_input(text)
    else:
        assert id_nat.id_nat == text
        assert (id_nat.type_identifiant + id_nat.identifiant) == text
        assert diagnose_login_input(text) is None


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_any_keyed_rpps_parses_and_its_missing_8_is_diagnosed(body: str) -> None:
    rpps = body + str(luhn_key(body))
    assert parse_id_nat("8" + rpps).identifiant == rpps
    assert diagnose_login_input(rpps) == (
        "Votre identifiant national commence par 8 suivi de vos 11 chiffres RPPS : "
        f"essayez 8{rpps}."
    )


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        (
            "99700367917",
            "Votre identifiant national commence par 8 suivi de vos 11 chiffres RPPS : "
            "essayez 899700367917.",
        ),
        (
            "997 0036 7917",
            "Votre identifiant national commence par 8 suivi de vos 11 chiffres RPPS : "
            "essayez 899700367917.",
        ),
        (
            " 899700367917 ",
            "Votre identifiant national s'écrit sans espace : essayez 899700367917.",
        ),
        (
            "ans20220215183932",
            "Un identifiant EDIT commence par ANS en majuscules : essayez ANS20220215183932.",
        ),
        ("012600631", "Un numéro ADELI se saisit précédé de 0 : essayez 0012600631."),
    ],
)
def test_diagnose_login_input_suggests_the_likely_fix(typed: str, hint: str) -> None:
    assert diagnose_login_input(typed) == hint


def test_diagnose_login_input_reports_a_fix_that_still_fails() -> None:
    hint = diagnose_login_input("99700367918")
    assert hint is not None
    assert hint.startswith("Identifiant national « 899700367918 » : clé de contrôle RPPS")


def test_diagnose_login_input_accepts_well_formed_identifiers_and_explains_the_rest() -> None:
    assert diagnose_login_input("899700367917") is None
    assert diagnose_login_input("500000001815646/CPAT00045") is None
    assert diagnose_login_input("bonjour") == (
        "« bonjour » n'a aucune forme d'identifiant national : 8 + RPPS (12 chiffres), "
        "0 + ADELI (10 caractères), 3 + FINESS + / + identifiant, 5 + SIRET + / + identifiant, "
        "ou ANS + horodatage (EDIT)."
    )
