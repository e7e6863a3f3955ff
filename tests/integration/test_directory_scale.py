"""A national-sized directory as a user builds it: generate, import, serve from the index.
Small here (a few thousand rows); the two-million-row run is bench/directory.py."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys

import pytest
import requests

from idp.directory.facets import STRUCTURE_WORD
from idp.directory.index import Directory, Match
from tests.integration.test_cli import PSC_MOCK, start_serving
from tests.oidc_client import RelyingParty


def psc_mock(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PSC_MOCK, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("national")
    extraction = folder / "Extraction_ProSanteConnect_Personne_activite_202401010000.txt"
    assert psc_mock("directory", "generate", str(extraction), "--rows", "3000").returncode == 0
    built = psc_mock("directory", "import", str(extraction), "--index", str(folder / "a.sqlite"))
    assert built.returncode == 0, built.stderr
    assert "0 lines rejected" in built.stdout
    return folder / "a.sqlite"


def test_worker_processes_build_the_index_one_process_builds(index, tmp_path):
    """Chunks of 2,000 lines parsed in two processes, a person straddling two chunks
    merged back: the same people, the same structures, the same answers."""
    extraction = _straddling(next(index.parent.glob("Extraction_*.txt")), tmp_path, 2000)
    serial = Directory.create(tmp_path / "1.sqlite")
    parallel = Directory.create(tmp_path / "2.sqlite")
    serial.import_file(extraction, workers=0)
    summary = parallel.import_file(extraction, workers=2)
    people = list(serial.all())
    assert len(parallel) == len(people) == summary.people - 1  # one person, two runs
    assert list(parallel.all()) == people
    assert parallel.structures(limit=10_000) == serial.structures(limit=10_000)
    for word in ("centre", "cabinet", "pharmacie"):
        where = [[Match(STRUCTURE_WORD, word, prefix=True)]]
        assert parallel.structures(where) == serial.structures(where)
        assert parallel.search(word[:3]) == serial.search(word[:3])


def _straddling(extraction, folder, chunk_lines: int):
    """A copy of ``extraction`` where a person's two rows are the last of the first chunk
    of lines and the first of the second."""
    header, *lines = extraction.read_text(encoding="utf-8").splitlines(keepends=True)
    id_nats = [line.split("|")[2] for line in lines]
    pair = next(i for i in range(len(lines) - 2) if id_nats[i] == id_nats[i + 1] != id_nats[i + 2])
    others = lines[:pair] + lines[pair + 2 :]
    others = [line for line in others if line.split("|")[2] != id_nats[pair]]
    rows = [*others[: chunk_lines - 1], lines[pair], lines[pair + 1], *others[chunk_lines - 1 :]]
    copy = folder / extraction.name
    copy.write_text(header + "".join(rows), encoding="utf-8")
    return copy


def test_the_mock_serves_a_generated_person_from_the_index(index):
    someone = sqlite3.connect(index).execute("SELECT id_nat FROM practitioner").fetchone()[0]
    process, urls = start_serving("--directory", str(index))
    try:
        base = urls["issuer"].split("/auth/")[0]
        assert requests.get(urls["health"], timeout=5).json()["checks"]["directory"]
        scenario = requests.put(f"{base}/_mock/scenarios/{someone}", json={"policy": "auto"})
        assert scenario.ok, scenario.text
        discovery = requests.get(urls["discovery"], timeout=5).json()
        rp = RelyingParty(discovery)
        tokens, _ = rp.login_auto(someone)
        assert rp.verify(tokens["access_token"])["SubjectNameID"] == someone
        fixture_person = requests.get(f"{base}/_mock/directory/899700100011", timeout=5)
        assert fixture_person.status_code == 404  # the index replaces the fixtures' directory
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_import_reports_rejected_lines_by_file_line_and_column(tmp_path):
    extraction = tmp_path / "Extraction_ProSanteConnect_Personne_activite_202401010000.txt"
    assert psc_mock("directory", "generate", str(extraction), "--rows", "50").returncode == 0
    lines = extraction.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("|8997", "|8998", 1)  # a wrong RPPS key
    lines[5] = "not|a|row"
    extraction.write_text("\n".join(lines) + "\n", encoding="utf-8")
    built = psc_mock("directory", "import", str(extraction), "--index", str(tmp_path / "i"))
    assert built.returncode == 0, built.stderr
    assert f"{extraction}:4: column 'Identification nationale PP'" in built.stdout
    assert f"{extraction}:6:" in built.stdout
    assert "2 lines rejected" in built.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["directory", "import", "{tmp}/missing.txt", "--index", "{tmp}/x.sqlite"], "introuvable"),
        (["directory", "generate", "{tmp}/x.txt", "--rows", "0"], "--rows"),
        (["serve", "--port", "0", "--directory", "{tmp}/missing.sqlite"], "introuvable"),
    ],
)
def test_cli_errors_are_one_clear_line(args, says, tmp_path):
    result = psc_mock(*(arg.format(tmp=tmp_path) for arg in args))
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr


def test_an_index_of_another_version_is_refused(tmp_path):
    stale = tmp_path / "stale.sqlite"
    sqlite3.connect(stale).close()
    result = psc_mock("serve", "--port", "0", "--directory", str(stale))
    assert result.returncode == 2 and "reconstruisez" in result.stderr


def test_worker_processes_start_from_a_script_read_on_stdin(index, tmp_path):
    """Workers that imported the caller's __main__ again (forkserver, spawn) hung for good
    when it was a script read from stdin; they must not."""
    extraction = next(index.parent.glob("Extraction_*.txt"))
    script = (
        "from idp.directory.index import Directory\n"
        f"directory = Directory.create({str(tmp_path / 'i.sqlite')!r})\n"
        f"print(directory.import_file({str(extraction)!r}, workers=2).people)\n"
    )
    done = subprocess.run(
        [sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 2000
