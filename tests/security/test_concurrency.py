"""Many people at once: parallel logins never cross (each gets its own claims and tokens),
and a storm of CIBA polls is slowed down, never failed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from idp.directory.identifiers import luhn_key
from idp.server import MockServer
from idp.settings import Settings
from tests.conftest import CI_CLIENT
from tests.integration.test_ciba import Ciba
from tests.oidc_client import RelyingParty
from tests.session_client import DEMO_CLIENT, userinfo

LOGINS = 200
TEMPLATE = "899700100011"  # an auto-approved médecin, cloned under new identifiers


def _rpps_id_nat(number: int) -> str:
    body = f"9970{number:06d}"  # fictional test range, as the fixtures'
    return "8" + body + str(luhn_key(body))


@pytest.fixture(scope="module")
def busy_server():
    server = MockServer(Settings(port=0, threads=32)).start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def people(busy_server) -> list[str]:
    """LOGINS distinct professionals, each with their own name, all approved at once."""
    base = busy_server.settings.effective_public_url
    template = requests.get(f"{base}/_mock/directory/{TEMPLATE}", timeout=5).json()
    template.pop("autres_identifiants", None)
    created = []
    for number in range(900, 900 + LOGINS):
        id_nat = _rpps_id_nat(number)
        exercices = [{**e, "nom_exercice": f"NOM{number}"} for e in template["exercices"]]
        person = {**template, "id_nat": id_nat, "identifiant": id_nat[1:], "nom": f"NOM{number}"}
        person["exercices"] = exercices
        added = requests.put(f"{base}/_mock/directory/{id_nat}", json=person, timeout=5)
        assert added.status_code == 201, added.text
        scenario = requests.put(
            f"{base}/_mock/scenarios/{id_nat}", json={"policy": "auto"}, timeout=5
        )
        assert scenario.status_code in (200, 201), scenario.text
        created.append(id_nat)
    return created


def _discovery(server: MockServer) -> dict:
    url = server.settings.issuer + "/.well-known/wallet-openid-configuration"
    return requests.get(url, timeout=5).json()


def test_parallel_logins_never_cross(busy_server, people):
    discovery = _discovery(busy_server)
    clients = [CI_CLIENT, DEMO_CLIENT]

    def login(index: int) -> tuple[str, dict, dict, dict]:
        id_nat = people[index]
        rp = RelyingParty(discovery, clients[index % 2])
        tokens, secrets = rp.login_auto(id_nat)
        id_token = rp.verify(tokens["id_token"], audience=rp.session.client_id)
        assert id_token["nonce"] == secrets["nonce"]
        return id_nat, id_token, rp.verify(tokens["access_token"]), tokens

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(login, range(LOGINS)))

    seen_tokens = set()
    for index, (id_nat, id_token, access, tokens) in enumerate(results):
        assert id_token["SubjectNameID"] == id_nat == access["SubjectNameID"]
        assert id_token["family_name"] == f"NOM{900 + index}"
        assert access["azp"] == clients[index % 2][0]
        seen_tokens.update({tokens["access_token"], tokens["refresh_token"]})
    assert len(seen_tokens) == 2 * LOGINS

    def claims_of(result) -> tuple[str, str]:
        answer = userinfo(discovery, result[3]["access_token"])
        assert answer.status_code == 200
        return result[0], answer.json()["SubjectNameID"]

    with ThreadPoolExecutor(max_workers=32) as pool:
        assert all(mine == theirs for mine, theirs in pool.map(claims_of, results))


def test_a_ciba_polling_storm_is_slowed_down_never_failed(busy_server, people):
    discovery = _discovery(busy_server)
    base = busy_server.settings.effective_public_url
    manual = people[:20]
    for id_nat in manual:
        requests.put(f"{base}/_mock/scenarios/{id_nat}", json={"policy": "manual"}, timeout=5)
    ciba = Ciba(discovery)
    request_ids = [ciba.started(id_nat) for id_nat in manual]

    def storm(auth_req_id: str) -> list[tuple[int, str]]:
        answers = []
        for _ in range(10):  # far faster than the 5 s interval
            response = ciba.poll(auth_req_id)
            answers.append((response.status_code, response.json().get("error", "")))
        return answers

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = [answer for batch in pool.map(storm, request_ids) for answer in batch]

    assert all(status == 400 for status, _ in answers)
    errors = {error for _, error in answers}
    assert errors <= {"authorization_pending", "slow_down"}
    assert sum(error == "slow_down" for _, error in answers) >= 20 * 8
