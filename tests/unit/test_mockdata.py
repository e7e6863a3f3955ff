"""Mock-only fixture data: clients and identities, errors with file, line and field."""

from __future__ import annotations

import pytest

from idp.app import BUNDLED_FIXTURES
from idp.mockdata import MockData, MockDataError, load_clients, load_identities


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_fixtures_load():
    data = MockData.load(BUNDLED_FIXTURES, now=0)
    assert "psc-mock-ci" in data.clients
    assert any(identity.policy == "auto" for identity in data.identities.values())


def test_identity_defaults_and_relative_registration(tmp_path):
    path = _write(
        tmp_path,
        "credentials.yaml",
        """\
identities:
  "899700100016":
    policy: auto
    registered: "-12h"
    cards:
      - {type: CPS, serial: "2800100016"}
""",
    )
    identity = load_identities(path, now=100_000)["899700100016"]
    assert identity.registered_at == 100_000 - 12 * 3600
    assert identity.ecps_activated and identity.ecps_password == "1234"
    assert identity.cards[0].pin == "1234" and identity.cards[0].status == "active"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'identities:\n  "8997":\n    policy: always\n',
            ":3: identities.8997.policy: must be one of",
        ),
        ('identities:\n  "8997":\n    colour: red\n', ":3: identities.8997.colour: unknown field"),
        (
            'identities:\n  "8997":\n    ecps: {activated: "yes"}\n',
            "ecps.activated: expected true or false",
        ),
        (
            'identities:\n  "8997":\n    registered: "yesterday"\n',
            "registered: expected an ISO date-time",
        ),
        (
            'identities:\n  "8997":\n    cards:\n      - {type: CPS, serial: "1", pin: "12"}\n',
            ":4: identities.8997.cards[0].pin: must be 4 digits",
        ),
        ('identities:\n  "8997":\n    cards:\n      - {serial: "1"}\n', "missing field 'type'"),
        ("identities: [\n", "not valid YAML"),
    ],
)
def test_identity_errors_name_file_line_and_field(tmp_path, text, message):
    path = _write(tmp_path, "credentials.yaml", text)
    with pytest.raises(MockDataError) as error:
        load_identities(path, now=0)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clients:\n  - client_id: a\n    client_secret: b\n", "missing field 'redirect_uris'"),
        (
            "clients:\n  - {client_id: a, client_secret: b, redirect_uris: [x]}\n"
            "  - {client_id: a, client_secret: c, redirect_uris: [y]}\n",
            ":3: clients[1].client_id: declared twice",
        ),
        (
            "clients:\n  - {client_id: a, client_secret: b, redirect_uris: [x], "
            "token_endpoint_auth_methods: [private_key_jwt]}\n",
            "'private_key_jwt' is not one of",
        ),
    ],
)
def test_client_errors(tmp_path, text, message):
    with pytest.raises(MockDataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_clients(_write(tmp_path, "clients.yaml", text))


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(MockDataError, match="file not found"):
        load_clients(tmp_path / "clients.yaml")
    latin = tmp_path / "clients.yaml"
    latin.write_bytes("clients: [{client_id: é}]".encode("latin-1"))
    with pytest.raises(MockDataError, match="not UTF-8"):
        load_clients(latin)


def test_client_claim_profile_overrides_the_server_default(tmp_path):
    path = _write(
        tmp_path,
        "clients.yaml",
        "clients:\n"
        "  - {client_id: a, client_secret: s, redirect_uris: [x], claim_profile: psc-2026}\n"
        "  - {client_id: b, client_secret: s, redirect_uris: [y]}\n",
    )
    data = MockData(identities={}, clients=load_clients(path))
    assert data.claim_profile("a", "psc-2023") == "psc-2026"
    assert data.claim_profile("b", "psc-2023") == "psc-2023"
    bad = _write(
        tmp_path,
        "bad.yaml",
        "clients:\n  - {client_id: a, client_secret: s, redirect_uris: [x], claim_profile: v9}\n",
    )
    with pytest.raises(MockDataError, match=r"claim_profile: must be one of psc-2023, psc-2026"):
        load_clients(bad)
