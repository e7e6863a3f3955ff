"""Bad input to the console script: one clear line naming the file, no stack trace, and
nothing left behind (review of the CLI's error paths)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from idp.directory.tables import SCHEMA_VERSION
from tests.integration.test_cli import PSC_MOCK

ROOT = Path(__file__).resolve().parents[2]
SOMEONE = "899700100011"
EXTRACTION = "Extraction_ProSanteConnect_Personne_activite_202401010000.txt"


def psc_mock(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PSC_MOCK, *args], capture_output=True, text=True, timeout=120, **options
    )


@pytest.fixture(scope="module")
def extraction(tmp_path_factory) -> Path:
    """A generated extraction of 3,000 rows (its index is about 2 MB)."""
    path = tmp_path_factory.mktemp("extraction") / EXTRACTION
    assert psc_mock("directory", "generate", str(path), "--rows", "3000").returncode == 0
    return path


def leftovers(folder: Path) -> list[str]:
    """Index files and partial ones in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if ".idx" in p.name)


def assert_one_clear_line(result: subprocess.CompletedProcess, *says: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    for text in says:
        assert text in result.stderr, result.stderr


# --- directory import: a failed import leaves no index -------------------------------


@pytest.mark.parametrize("rows", [[], ["not|a|row|"]], ids=["header-only", "all-rejected"])
def test_an_import_without_anyone_leaves_no_index(rows, extraction, tmp_path):
    source = tmp_path / EXTRACTION
    header = extraction.read_text(encoding="utf-8").splitlines()[0]
    source.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    index = tmp_path / "a.idx"
    result = psc_mock("directory", "import", str(source), "--index", str(index))
    assert result.returncode == 1
    assert_one_clear_line(result, "aucun professionnel valide", f"{index} n'a pas été créé")
    assert leftovers(tmp_path) == []
    again = psc_mock("directory", "import", str(extraction), "--index", str(index))
    assert again.returncode == 0, again.stderr
    assert leftovers(tmp_path) == ["a.idx"]


def _small_file_limit() -> None:
    """In the child: files may not grow past 300 kB (the disk is full, for SQLite)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_an_import_failing_midway_leaves_no_index(extraction, tmp_path):
    index = tmp_path / "a.idx"
    result = psc_mock(
        "directory", "import", str(extraction), "--index", str(index), preexec_fn=_small_file_limit
    )
    assert result.returncode == 2
    assert_one_clear_line(result, f"{index} : écriture impossible")
    assert leftovers(tmp_path) == []
    again = psc_mock("directory", "import", str(extraction), "--index", str(index))
    assert again.returncode == 0, again.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_extraction_is_named(extraction, tmp_path):
    source = tmp_path / EXTRACTION
    source.write_bytes(extraction.read_bytes())
    source.chmod(0)
    result = psc_mock("directory", "import", str(source), "--index", str(tmp_path / "a.idx"))
    assert result.returncode == 2
    assert_one_clear_line(result, f"{source} : accès refusé")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("index", "says"),
    [
        ("missing/a.idx", "le dossier {tmp}/missing n'existe pas"),
        ("dangling.idx", "un lien cassé porte ce nom"),
        ("taken.idx", "l'index existe déjà"),
    ],
)
def test_an_index_that_cannot_be_created_is_named(index, says, extraction, tmp_path):
    (tmp_path / "dangling.idx").symlink_to(tmp_path / "nowhere" / "a.idx")
    (tmp_path / "taken.idx").write_text("mine")
    result = psc_mock("directory", "import", str(extraction), "--index", str(tmp_path / index))
    assert result.returncode == 2
    assert_one_clear_line(result, f"{tmp_path / index} : ", says.format(tmp=tmp_path))
    assert (tmp_path / "taken.idx").read_text() == "mine"
    assert leftovers(tmp_path) == ["dangling.idx", "taken.idx"]


def test_a_folder_given_as_extraction_is_called_a_folder(tmp_path):
    result = psc_mock("directory", "import", str(tmp_path), "--index", str(tmp_path / "a.idx"))
    assert result.returncode == 2
    assert_one_clear_line(result, f"{tmp_path} : c'est un dossier")


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> Path:
    """200,000 rows: an import long enough (several seconds) to be stopped midway."""
    source = tmp_path_factory.mktemp("national") / EXTRACTION
    assert psc_mock("directory", "generate", str(source), "--rows", "200000").returncode == 0
    return source


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_stops_an_import_quietly_and_leaves_nothing(sent, status, national, tmp_path):
    """Ctrl-C reaches the whole process group: the command and its worker processes.
    SIGTERM too (killed at once, the import left its partial file; workers printed
    BrokenPipeError tracebacks)."""
    index = tmp_path / "a.idx"
    process = subprocess.Popen(
        [*PSC_MOCK, "directory", "import", str(national), "--index", str(index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not any(".partial-" in name for name in leftovers(tmp_path)):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(1.5)  # the workers parse, the parent writes
    os.killpg(process.pid, sent)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert f"import interrompu : {index} n'a pas été créé" in stderr
    assert leftovers(tmp_path) == []


def test_an_import_killed_midway_keeps_the_index_sorted(extraction, tmp_path):
    """Into an existing index (as a library caller does): the DROP INDEX that speeds up a
    fresh import was committed on its own, so a killed import left no sort index."""
    index = tmp_path / "a.idx"
    script = (
        "import os, signal\n"
        "from idp.directory.index import Directory\n"
        f"directory = Directory.create({str(index)!r})\n"
        "def die(issue):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        f"directory.import_file({str(tmp_path / EXTRACTION)!r}, on_issue=die, workers=0)\n"
    )
    lines = extraction.read_text(encoding="utf-8").splitlines()
    lines[2000] = "not|a|row|"
    (tmp_path / EXTRACTION).write_text("\n".join(lines) + "\n", encoding="utf-8")
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    with sqlite3.connect(index) as db:  # SQLite rolls the interrupted transaction back
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert "practitioner_sort" in names
        assert db.execute("SELECT COUNT(*) FROM practitioner").fetchone()[0] == 0


# --- serve --directory: a file that is not an index ----------------------------------


def _not_an_index(kind: str, extraction: Path, folder: Path) -> Path:
    path = folder / f"{kind}.idx"
    if kind == "garbage":
        path.write_bytes(b"not a database\n" * 100)
    elif kind == "cut-in-half":
        whole = folder / "whole.idx"
        built = psc_mock("directory", "import", str(extraction), "--index", str(whole))
        assert built.returncode == 0, built.stderr
        data = whole.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:  # another database that happens to have our format number
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE other (a)")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return path


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("kind", ["garbage", "cut-in-half", "other-tables"])
def test_serve_refuses_a_file_that_is_not_an_index(kind, workers, extraction, tmp_path):
    path = _not_an_index(kind, extraction, tmp_path)
    result = psc_mock("serve", "--port", "0", "--workers", workers, "--directory", str(path))
    assert result.returncode != 0
    assert_one_clear_line(result, f"{path} : n'est pas un index de l'annuaire", "reconstruisez")


def test_directory_check_says_why_a_file_cannot_be_read(tmp_path):
    pipe = tmp_path / "fifo"
    os.mkfifo(pipe)
    result = psc_mock("directory", "check", str(pipe), str(tmp_path), str(tmp_path / "none.txt"))
    assert result.returncode == 1
    assert "None" not in result.stdout and "Traceback" not in result.stderr
    assert f"{pipe}: pas un fichier ordinaire" in result.stdout
    assert f"{tmp_path} : c'est un dossier" in result.stdout
    assert f"{tmp_path / 'none.txt'} : fichier introuvable" in result.stdout


# --- building the mock: fixtures, --directory, --data-dir ----------------------------


@pytest.fixture
def folders(tmp_path) -> Path:
    """Fixtures whose annuaire has a bad line 56, a file, a corrupt --data-dir."""
    from idp.app import BUNDLED_FIXTURES

    shutil.copytree(BUNDLED_FIXTURES, tmp_path / "fx")
    [annuaire] = (tmp_path / "fx" / "annuaire").glob("*.txt")
    with annuaire.open("a", encoding="utf-8") as out:
        out.write("broken|\n")
    (tmp_path / "small.txt").write_text("not a folder")
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "state.sqlite3").write_bytes(b"not a database\n" * 100)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["token", SOMEONE, "--fixtures", "{tmp}/none"], {}, "--fixtures {tmp}/none : pas un"),
        (["token", SOMEONE, "--fixtures", "{tmp}/fx"], {}, ".txt:56: 1 colonne au"),
        (["token", SOMEONE], {"PSC_MOCK_DIRECTORY": "{tmp}/x.idx"}, "{tmp}/x.idx: index"),
        (["card", "issue", SOMEONE, "--fixtures", "{tmp}/fx"], {}, ".txt:56: 1 colonne au"),
        (["serve", "--port", "0", "--fixtures", "{tmp}/small.txt"], {}, "small.txt : pas un"),
        (["serve", "--port", "0"], {"PSC_MOCK_DATA_DIR": "{tmp}/small.txt"}, "small.txt : pas"),
        (["directory", "list", "--fixtures", "{tmp}/small.txt"], {}, "small.txt : pas un"),
        (["serve", "--port", "0", "--data-dir", "{tmp}/dd"], {}, "state.sqlite3 : n'est pas"),
        (["card", "oppose", "1234567890", "--data-dir", "{tmp}/dd"], {}, "supprimez-le"),
    ],
)
def test_what_the_mock_is_built_from_is_named(args, env, says, folders):
    result = psc_mock(
        *(arg.format(tmp=folders) for arg in args),
        env={**os.environ, **{k: v.format(tmp=folders) for k, v in env.items()}},
    )
    assert result.returncode == 2
    assert_one_clear_line(result, says.format(tmp=folders))
    assert "cannot listen" not in result.stderr


# --- serve --tls: certificate and key files ------------------------------------------


def _other_key(path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.parametrize(
    ("option", "file", "says"),
    [
        ("--tls-cert", "none.pem", "--tls-cert {file} : fichier introuvable"),
        ("--tls-cert", "garbage.pem", "--tls-cert {file} : pas un certificat PEM"),
        ("--tls-key", "garbage.pem", "--tls-key {file} : pas une clé privée PEM"),
        ("--tls-key", "other.key.pem", "--tls-key {file} : n'est pas la clé de --tls-cert"),
    ],
)
def test_tls_files_are_named(option, file, says, tmp_path):
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    _other_key(tmp_path / "other.key.pem")
    path = tmp_path / file
    result = psc_mock("serve", "--port", "0", "--tls", option, str(path))
    assert result.returncode == 2
    assert_one_clear_line(result, says.format(file=path))


# --- ctl / token --url ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("notaurl", "not an http(s) URL"),
        ("http://a b", "a URL has no spaces"),
        ("http://a:xx", "--url 'http://a:xx': "),
        ("http://[::1", "--url 'http://[::1': "),
    ],
)
@pytest.mark.parametrize(
    "command", [["ctl", "--url", "{url}", "clock"], ["token", SOMEONE, "--url", "{url}"]]
)
def test_a_bad_url_is_one_clear_line(command, url, says):
    result = psc_mock(*(arg.format(url=url) for arg in command))
    assert result.returncode == 2
    assert_one_clear_line(result, says)
