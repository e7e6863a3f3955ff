"""The console script as a user runs it: serve (URLs printed, SIGTERM), directory, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import requests

from tests.fixture_people import auto_medecin

PSC_MOCK = [sys.executable, "-m", "idp"]


def start_serving(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start ``psc-mock serve`` and read the URLs it prints."""
    process = subprocess.Popen(
        [*PSC_MOCK, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    urls: dict[str, str] = {}
    for line in process.stdout:
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("http"):
            urls[parts[0]] = parts[1]
        if parts and parts[0] == "health":
            break
    return process, urls


def test_serve_prints_urls_serves_and_stops_on_sigterm():
    process, urls = start_serving()
    try:
        assert set(urls) >= {"issuer", "discovery", "login", "phone"}
        discovery = requests.get(urls["discovery"], timeout=5).json()
        assert discovery["issuer"] == urls["issuer"]
        login = requests.get(urls["login"], timeout=5)
        assert login.status_code == 200 and "Connectez-vous" in login.text
        assert requests.get(urls["phone"], timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_serve_refuses_bad_settings_without_a_traceback():
    result = subprocess.run(
        [*PSC_MOCK, "serve", "--port", "0"],
        env={**os.environ, "PSC_MOCK_STRICT": "perhaps"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "PSC_MOCK_*" in result.stderr and "strict" in result.stderr
    assert "Traceback" not in result.stderr


def test_directory_list_and_show():
    listing = subprocess.run(
        [*PSC_MOCK, "directory", "list", "--json"], capture_output=True, text=True, timeout=30
    )
    assert listing.returncode == 0
    rows = json.loads(listing.stdout)
    assert len(rows) >= 40
    assert {"id_nat", "given_name", "family_name", "professions", "means", "policy"} <= set(rows[0])

    id_nat = auto_medecin().id_nat
    shown = subprocess.run(
        [*PSC_MOCK, "directory", "show", id_nat], capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["practitioner"]["id_nat"] == id_nat

    missing = subprocess.run(
        [*PSC_MOCK, "directory", "show", "8999/none"], capture_output=True, text=True, timeout=30
    )
    assert missing.returncode == 2 and "no professional" in missing.stderr


def test_directory_check_names_file_line_and_column(tmp_path):
    bad = tmp_path / "Extraction_ProSanteConnect_Personne_activite_bad.txt"
    bad.write_text("not|a|header|\n", encoding="utf-8")
    result = subprocess.run(
        [*PSC_MOCK, "directory", "check", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert str(bad) in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
