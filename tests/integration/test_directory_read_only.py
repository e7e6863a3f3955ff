"""An imported index (``serve --directory``) is served read-only: the control API's
directory edits were written into the file for good (its undo journal is in memory)."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess

import pytest
import requests

from idp.app import BUNDLED_FIXTURES
from tests.integration.test_cli import PSC_MOCK, start_serving

SOMEONE = "899700100011"  # in the bundled fixtures' extraction, so in the index


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """The bundled fixtures' extraction, imported as a national one would be."""
    extraction = next((BUNDLED_FIXTURES / "annuaire").glob("*.txt"))
    path = tmp_path_factory.mktemp("index") / "annuaire.idx"
    built = subprocess.run(
        [*PSC_MOCK, "directory", "import", str(extraction), "--index", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return path


def people(index) -> list[str]:
    with sqlite3.connect(index) as db:
        return [row[0] for row in db.execute("SELECT id_nat FROM practitioner ORDER BY 1")]


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    return stderr


def test_directory_edits_of_an_imported_index_are_refused(index):
    before = hashlib.sha256(index.read_bytes()).hexdigest()
    everyone = people(index)
    process, urls = start_serving("--directory", str(index))
    try:
        control = urls["issuer"].split("/auth/")[0] + "/_mock"
        person = requests.get(f"{control}/directory/{SOMEONE}", timeout=5)
        assert person.status_code == 200
        removed = requests.delete(f"{control}/directory/{SOMEONE}", timeout=5)
        changed = requests.put(f"{control}/directory/{SOMEONE}", json=person.json(), timeout=5)
        for answer in (removed, changed):
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"] == "read_only_directory"
            assert "import" in answer.json()["error_description"]
        assert requests.get(f"{control}/directory/{SOMEONE}", timeout=5).json() == person.json()
        found = requests.get(f"{control}/directory", params={"q": SOMEONE}, timeout=5).json()
        assert [p["id_nat"] for p in found["results"]] == [SOMEONE]
        assert requests.post(f"{control}/reset", json={}, timeout=5).ok
    finally:
        stop(process)
    assert people(index) == everyone
    assert hashlib.sha256(index.read_bytes()).hexdigest() == before


def test_edits_stored_by_a_fixtures_run_are_not_applied_to_an_index(index, tmp_path):
    """A --data-dir used first with the fixtures' directory keeps its edits: a later start
    on an index must not crash on them, nor write them into the index."""
    data_dir = str(tmp_path / "data")
    process, urls = start_serving("--data-dir", data_dir)
    try:
        control = urls["issuer"].split("/auth/")[0] + "/_mock"
        assert requests.delete(f"{control}/directory/{SOMEONE}", timeout=5).status_code == 204
    finally:
        stop(process)
    process, urls = start_serving("--data-dir", data_dir, "--directory", str(index))
    try:
        assert "issuer" in urls, process.stderr.read() if process.poll() is not None else ""
        control = urls["issuer"].split("/auth/")[0] + "/_mock"
        assert requests.get(urls["health"], timeout=5).status_code == 200
        assert requests.get(f"{control}/directory/{SOMEONE}", timeout=5).status_code == 200
    finally:
        stderr = stop(process)
    assert "not applied" in stderr
    assert SOMEONE in people(index)
