"""``psc-mock card …`` and ``psc-mock pki init`` as a person runs them (``python -m idp``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from idp.app import BUNDLED_FIXTURES
from idp.card.pki import TestPki

OPPOSED = "2800100102"
EXPIRED = "2800090292"
LOCKED = "2800100300"


def psc_mock(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "idp", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    """A copy of the bundled fixtures, which these commands may change."""
    path = tmp_path_factory.mktemp("card-cli") / "fixtures"
    shutil.copytree(BUNDLED_FIXTURES, path)
    return path


def test_card_list(fixtures):
    rows = json.loads(psc_mock("card", "list", "--json", "--fixtures", str(fixtures)).stdout)
    by_serial = {row["serial"]: row for row in rows}
    assert by_serial[OPPOSED]["status"] == "opposed"
    assert by_serial[LOCKED]["status"] == "locked" and by_serial[LOCKED]["pin_tries_left"] == 0
    assert by_serial[EXPIRED]["status"] == "expired"
    assert by_serial["2600000001"]["type"] == "CPE"
    assert by_serial["2600000002"]["type"] == "CPA"
    table = psc_mock("card", "list", "--fixtures", str(fixtures)).stdout
    assert "2800100011" in table


def test_card_issue_then_export(fixtures, tmp_path):
    done = psc_mock("card", "issue", "899700100011", "--fixtures", str(fixtures))
    assert "card 2900000001 (CPS) issued for 899700100011" in done.stdout
    staff = psc_mock("card", "issue", "599900003700112/CPAT00001", "--type", "CPA",
                     "--fixtures", str(fixtures))  # fmt: skip
    assert "(CPA)" in staff.stdout
    material = TestPki.load(fixtures / "pki").card("2900000001")
    assert material.holder.id_nat == "899700100011"

    out = tmp_path / "export"
    psc_mock("card", "export", "2900000001", "--out", str(out), "--fixtures", str(fixtures))
    certificate = x509.load_pem_x509_certificate((out / "2900000001.cert.pem").read_bytes())
    assert certificate == material.authentication.certificate
    key, cert, extra = pkcs12.load_key_and_certificates(
        (out / "2900000001.p12").read_bytes(), b"1234"
    )
    assert cert == certificate and key is not None and len(extra) == 1
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates((out / "2900000001.p12").read_bytes(), b"0000")
    assert len(x509.load_pem_x509_certificates((out / "ca-bundle.pem").read_bytes())) == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["card", "issue", "899700999993"], "899700999993 is not in the directory"),
        (["card", "issue", "899700100011", "--type", "CPE"], "needs a staff idNat"),
        (["card", "issue", "899700100011", "--serial", "12"], "--serial '12': 10 digits expected"),
        (["card", "issue", "899700100011", "--serial", "2800100011"], "already exists"),
        (["card", "export", "0000000000", "--out", "x"], "no card '0000000000'"),
        (["card", "oppose", "2800100011"], "give --data-dir"),
        (["card", "unblock", "2800100011"], "give --data-dir"),
    ],
)
def test_cli_errors_are_one_line(fixtures, args, message):
    done = psc_mock(*args, "--fixtures", str(fixtures), check=False)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_pki_init_issues_only_what_is_missing(fixtures):
    shutil.rmtree(fixtures / "pki" / "cards" / "2800100011")
    done = psc_mock("pki", "init", "--fixtures", str(fixtures))
    assert done.stdout.strip() == "issued card 2800100011"
    assert "is up to date" in psc_mock("pki", "init", "--fixtures", str(fixtures)).stdout


def test_oppose_and_unblock_through_a_data_dir_change_the_running_mock(
    fixtures, tmp_path, start_server
):
    data_dir = tmp_path / "data"
    server = start_server(fixtures=str(fixtures), data_dir=str(data_dir))
    base = server.settings.effective_public_url
    target = TestPki.load(fixtures / "pki").card("2800100029").authentication.certificate

    def revoked() -> bool:
        response = requests.get(base + "/pki/crl/test-ac-igc-sante-fort-personnes.crl", timeout=5)
        crl = x509.load_der_x509_crl(response.content)
        return crl.get_revoked_certificate_by_serial_number(target.serial_number) is not None

    assert not revoked()
    common = ["--fixtures", str(fixtures), "--data-dir", str(data_dir)]
    done = psc_mock("card", "oppose", "2800100029", *common)
    assert done.stdout.startswith("card 2800100029 opposed since ")
    assert revoked()  # the running mock reissued its CRLs
    rows = json.loads(psc_mock("card", "list", "--json", *common).stdout)
    assert {r["serial"]: r["status"] for r in rows}["2800100029"] == "opposed"

    assert {r["serial"]: r for r in rows}[LOCKED]["pin_tries_left"] == 0
    psc_mock("card", "unblock", LOCKED, *common)
    rows = json.loads(psc_mock("card", "list", "--json", *common).stdout)
    assert {r["serial"]: r for r in rows}[LOCKED]["pin_tries_left"] == 3


@pytest.mark.skipif(not shutil.which("softhsm2-util"), reason="SoftHSM2 is not installed")
def test_provision_softhsm(fixtures, tmp_path):
    folder = tmp_path / "softhsm"
    done = psc_mock(
        "card", "provision-softhsm", "2800100011", "--softhsm-dir", str(folder),
        "--fixtures", str(fixtures),
    )  # fmt: skip
    assert "CPS3 CPS 2800100011" in done.stdout
    assert (folder / "softhsm2.conf").exists()
