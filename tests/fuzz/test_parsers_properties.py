"""Property tests for everything that parses input from outside: extraction files, idNat,
the YAML fixtures. Whatever they are given, they answer with a result or with their own
error naming where the problem is, never with another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.app import BUNDLED_FIXTURES
from idp.directory.identifiers import IdentifierError, diagnose_login_input, parse_id_nat
from idp.directory.loaders import DirectoryFileError, load_file
from idp.mockdata import MockDataError, load_clients, load_identities, parse_scenario

EXTRACTION = next((BUNDLED_FIXTURES / "annuaire").glob("*.txt")).read_text(encoding="utf-8")
HEADER, *ROWS = EXTRACTION.splitlines()
COLUMNS = HEADER.count("|")
FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
field_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)


def _write(content: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="psc-mock-fuzz-"))
    path = folder / "Extraction_ProSanteConnect_Personne_activite_202401010000.txt"
    path.write_bytes(content)
    return path


@st.composite
def mutated_rows(draw) -> list[str]:
    """Real rows with fields replaced, columns dropped or added, junk lines between."""
    rows = []
    for row in draw(st.lists(st.sampled_from(ROWS), min_size=1, max_size=5)):
        fields = row.split("|")
        for _ in range(draw(st.integers(0, 3))):
            fields[draw(st.integers(0, len(fields) - 1))] = draw(field_text)
        if draw(st.booleans()):
            del fields[draw(st.integers(0, len(fields) - 1)) :]
        rows.append("|".join(fields).replace("\n", " ").replace("\r", " "))
        if draw(st.integers(0, 4)) == 0:
            rows.append(draw(field_text).replace("\n", " ").replace("\r", " "))
    return rows


@FAST
@given(rows=mutated_rows(), encoding=st.sampled_from(["utf-8", "cp1252", "utf-8-sig"]))
def test_any_extraction_file_loads_or_names_line_and_column(rows, encoding):
    text = "\n".join([HEADER, *rows]) + "\n"
    path = _write(text.encode(encoding, errors="replace"))
    result = load_file(path, strict=False)
    lines = len(rows) + 1
    for issue in result.issues:
        assert 0 <= issue.line <= lines and str(issue).startswith(str(path))
    for practitioner in result.practitioners:
        parse_id_nat(practitioner.id_nat)  # only valid people get through
    try:
        strict = load_file(path, strict=True)
        assert not strict.errors
    except DirectoryFileError as refused:
        assert refused.issues and all(issue.severity == "error" for issue in refused.issues)


@FAST
@given(content=st.binary(max_size=400))
def test_any_bytes_as_an_extraction_file(content):
    path = _write(content)
    try:
        load_file(path, strict=True)
    except DirectoryFileError as refused:
        assert str(path) in str(refused)


@FAST
@given(text=st.text(max_size=40))
def test_any_text_as_an_id_nat(text):
    try:
        parsed = parse_id_nat(text)
    except IdentifierError as refused:
        assert str(refused)
    else:
        assert parsed.id_nat
    advice = diagnose_login_input(text)
    assert advice is None or isinstance(advice, str)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | field_text,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            field_text | st.sampled_from(["identities", "clients", "ecps"]), children, max_size=3
        )
    ),
    max_leaves=12,
)


@st.composite
def credentials_like(draw) -> str:
    """Mostly the shape of credentials.yaml or clients.yaml, with wrong values inside."""
    identity = draw(
        st.dictionaries(
            st.sampled_from(["policy", "ecps", "cards", "registered", "order", "claims", "delay"]),
            yaml_values,
            max_size=4,
        )
    )
    document = draw(
        st.sampled_from(
            [
                {"identities": {"899700100011": identity}},
                {"clients": [{"client_id": "x", **identity}]},
                identity,
            ]
        )
    )
    return yaml.safe_dump(document, allow_unicode=True)


@FAST
@given(text=credentials_like() | field_text)
def test_any_yaml_fixture_loads_or_names_file_line_and_field(text):
    folder = Path(tempfile.mkdtemp(prefix="psc-mock-yaml-"))
    for name, load in (("credentials.yaml", load_identities), ("clients.yaml", load_clients)):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        try:
            load(path, now=0) if load is load_identities else load(path)
        except MockDataError as refused:
            assert str(refused).startswith(str(path)), refused


@FAST
@given(text=credentials_like() | field_text)
def test_any_scenario_is_accepted_or_refused_with_its_reason(text):
    try:
        parse_scenario(text, "899700100011", now=0, source="scenario")
    except MockDataError as refused:
        assert str(refused).startswith("scenario")
