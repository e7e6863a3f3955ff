"""``psc-mock directory list|show|check``: the directory as the mock will serve it."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from idp.directory import nomenclatures
from idp.directory.model import Practitioner
from idp.mockdata import Identity

if TYPE_CHECKING:
    from idp.directory.index import ImportSummary


def add_directory_commands(commands) -> None:
    directory = commands.add_parser("directory", help="inspect or check Annuaire Santé files")
    actions = directory.add_subparsers(title="actions")

    listing = actions.add_parser("list", help="every identity with its means and policy")
    listing.add_argument("--fixtures", help="fixtures directory (default: the bundled one)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--markdown", action="store_true", help="as the README's table")
    listing.set_defaults(run=_list)

    show = actions.add_parser("show", help="one professional, as the directory holds them")
    show.add_argument("id_nat", help="the national identifier (idNat), slashes allowed")
    show.add_argument("--fixtures", help="fixtures directory (default: the bundled one)")
    show.set_defaults(run=_show)

    check = actions.add_parser("check", help="validate extraction files, strictly")
    check.add_argument("files", nargs="+", help="Extraction_ProSanteConnect / PS_LibreAcces files")
    check.add_argument("--lenient", action="store_true", help="report bad lines, keep the rest")
    check.set_defaults(run=_check)

    generate = actions.add_parser("generate", help="write a synthetic national extraction")
    generate.add_argument("output", help="the extraction file to write")
    generate.add_argument("--rows", type=int, required=True, help="activity rows to write")
    generate.add_argument("--seed", type=int, default=0, help="same seed, same file")
    generate.set_defaults(run=_generate)

    build = actions.add_parser("import", help="stream an extraction into an on-disk index")
    build.add_argument("file", help="Extraction_ProSanteConnect / PS_LibreAcces file")
    build.add_argument("--index", required=True, help="the index file to create")
    build.add_argument("--show", type=int, default=20, help="rejected lines to print")
    build.set_defaults(run=_import)


def _load(fixtures: str | None):
    from idp.cli import CliError, fixtures_dir
    from idp.directory.index import Directory
    from idp.directory.loaders import DirectoryFileError
    from idp.mockdata import MockData, MockDataError

    path = fixtures_dir(fixtures)
    try:
        directory = Directory.from_fixtures(path / "annuaire")
        mockdata = MockData.load(path, now=0)
    except (DirectoryFileError, MockDataError) as exc:
        raise CliError(str(exc)) from exc
    return directory, mockdata


def describe(practitioner: Practitioner, identity: Identity) -> dict:
    """One line of the identity table: who, what they do, how they log in."""
    professions = [
        nomenclatures.label(nomenclatures.PROFESSIONS, e.code_profession) or e.code_profession
        for e in practitioner.exercices
        if e.code_profession
    ]
    roles = [
        nomenclatures.label(nomenclatures.ROLES, a.code_role) or a.code_role
        for a in practitioner.activites
        if a.code_role and not a.code_role.startswith("FON")
    ]
    means = (["e-CPS"] if identity.ecps_activated else []) + [
        f"carte {card.type}" for card in identity.cards if card.status == "active"
    ]
    return {
        "id_nat": practitioner.id_nat,
        "given_name": practitioner.given_name,
        "family_name": practitioner.family_name,
        "professions": list(dict.fromkeys(professions + roles)),
        "means": means,
        "policy": identity.policy,
        "purpose": identity.purpose,
    }


def _list(args: argparse.Namespace) -> int:
    directory, mockdata = _load(args.fixtures)
    rows = [describe(p, mockdata.identity(p.id_nat)) for p in directory.all()]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if args.markdown:
        print(markdown_table(rows))
        return 0
    table = Table("idNat", "Nom", "Profession / rôle", "Moyens", "Politique", "Pour")
    for row in rows:
        table.add_row(
            row["id_nat"],
            f"{row['given_name']} {row['family_name']}",
            ", ".join(row["professions"]),
            ", ".join(row["means"]) or "—",
            row["policy"],
            row["purpose"],
        )
    Console().print(table)
    return 0


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| idNat | Nom | Profession / rôle | Moyens | Politique | Pour |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            f"`{row['id_nat']}`",
            f"{row['given_name']} {row['family_name']}",
            ", ".join(row["professions"]),
            ", ".join(row["means"]) or "—",
            f"`{row['policy']}`",
            row["purpose"],
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    from idp.cli import CliError

    directory, mockdata = _load(args.fixtures)
    practitioner = directory.get(args.id_nat)
    if practitioner is None:
        raise CliError(f"no professional with idNat {args.id_nat!r} in the directory")
    identity = mockdata.identity(args.id_nat)
    print(
        json.dumps(
            {"practitioner": asdict(practitioner), "mock": asdict(identity)},
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from idp.directory.loaders import DirectoryFileError, ExtractionReader
    from idp.settings import file_problem

    failed = False
    for name in args.files:
        try:
            reader = ExtractionReader(Path(name))
            # Streamed: who is there, not everyone's record (a national file whole took
            # about 3 KB a person, 6 GB; its idNats take a few percent of that).
            people = len({practitioner.id_nat for _, practitioner in reader.runs()})
        except DirectoryFileError as exc:
            print(exc)
            failed = True
            continue
        except OSError as exc:
            print(f"{name} : {file_problem(exc)}")
            failed = True
            continue
        errors = [issue for issue in reader.issues if issue.severity == "error"]
        if errors and not args.lenient:
            print(DirectoryFileError(errors))
            failed = True
            continue
        for issue in reader.issues:
            print(issue)
        counted = _plural(people, "professional")
        print(f"{name}: {counted}, layout {reader.layout.name}, encoding {reader.encoding}")
    return 1 if failed else 0


def _generate(args: argparse.Namespace) -> int:
    import time

    from idp.app import BUNDLED_FIXTURES
    from idp.cli import CliError
    from idp.directory.generate import generate

    if args.rows < 1:
        raise CliError("--rows: give a positive number of rows")
    started = time.perf_counter()
    try:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            people = generate(
                out, args.rows, seed=args.seed, fixtures=BUNDLED_FIXTURES / "annuaire"
            )
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc.strerror}") from exc
    elapsed = time.perf_counter() - started
    print(f"{args.output}: {args.rows} rows, {people} professionals, in {elapsed:.1f} s")
    return 0


def _import(args: argparse.Namespace) -> int:
    """Build the index in a partial file beside it, renamed onto it only once complete:
    a failed or interrupted import leaves nothing (an empty index left behind blocked the
    next import and was served as if ready)."""
    import sqlite3
    from collections import Counter

    from idp.cli import CliError
    from idp.directory.index import why_not_creatable
    from idp.directory.loaders import Issue

    source, target = Path(args.file), Path(args.index)
    _check_readable(source)
    if os.path.lexists(target):
        taken = "l'index existe déjà" if target.exists() else "un lien cassé porte ce nom"
        raise CliError(f"{target} : {taken}")
    if problem := why_not_creatable(target):
        raise CliError(f"{target} : impossible de créer l'index ({problem})")
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    reasons: Counter = Counter()
    shown: list[Issue] = []

    def on_issue(issue: Issue) -> None:
        reasons[(issue.severity, issue.column or "ligne", _reason_kind(issue.reason))] += 1
        if len(shown) < args.show:
            shown.append(issue)

    try:
        with _signals_interrupt():
            count, summary, elapsed = _build(partial, source, on_issue)
            if count:
                os.replace(partial, target)
    except _Interrupted as exc:
        print(f"psc-mock: import interrompu : {target} n'a pas été créé", file=sys.stderr)
        return 128 + exc.signum
    except (OSError, sqlite3.Error, ValueError) as exc:  # ValueError: the directory's errors
        raise CliError(_import_failure(exc, source, target)) from exc
    finally:
        _remove_partial(partial)
    for issue in shown:
        print(issue)
    for (severity, column, reason), n in reasons.most_common():
        print(f"  {n:>8} {severity}: {column}: {reason}")
    print(
        f"{args.index}: {_plural(count, 'professional')} from {source} ({summary.layout}, "
        f"{summary.encoding}) in {elapsed:.1f} s; {_plural(summary.errors, 'line')} rejected, "
        f"{_plural(summary.warnings, 'warning')}"
    )
    if not count:
        print(
            f"psc-mock: {source} : aucun professionnel valide, {target} n'a pas été créé",
            file=sys.stderr,
        )
        return 1
    return 0


def _build(partial: Path, source: Path, on_issue) -> tuple[int, ImportSummary, float]:
    """Import ``source`` into a new index at ``partial``, a progress bar meanwhile: how
    many people it holds, the import's summary, and how long it took."""
    import time

    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from idp.directory.index import Directory

    started = time.perf_counter()
    columns = (
        *Progress.get_default_columns()[:2],
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    directory = Directory.create(partial)
    try:
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task(f"import {source.name}", total=source.stat().st_size)
            summary = directory.import_file(
                source,
                on_issue=on_issue,
                progress=lambda done: progress.update(task, completed=done),
            )
        return len(directory), summary, time.perf_counter() - started
    finally:
        directory.close()


def _check_readable(source: Path) -> None:
    """CliError saying why ``source`` cannot be read, before anything is created."""
    from idp.cli import CliError
    from idp.settings import file_problem

    try:
        with source.open("rb"):
            pass
    except OSError as exc:
        raise CliError(f"{source} : {file_problem(exc)}") from exc


def _import_failure(exc: Exception, source: Path, target: Path) -> str:
    """What went wrong, naming the file it concerns, and that no index was left."""
    import sqlite3

    from idp.settings import file_problem

    if isinstance(exc, OSError):
        return f"{exc.filename or source} : {file_problem(exc)} ; {target} n'a pas été créé"
    if isinstance(exc, sqlite3.Error):  # the disk full, mostly
        return f"{target} : écriture impossible ({exc}) ; l'index n'a pas été créé"
    return f"{exc}\n{target} n'a pas été créé"  # the directory's errors name file and line


def _remove_partial(partial: Path) -> None:
    """The partial index and SQLite's journal beside it, if any is left."""
    for leftover in (partial, partial.with_name(partial.name + "-journal")):
        leftover.unlink(missing_ok=True)


class _Interrupted(BaseException):
    """Ctrl-C or SIGTERM during an import: unwinds it so that its partial file goes."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`_Interrupted` meanwhile (SIGTERM killed the
    process at once, its partial file left behind); the previous handlers after."""

    def interrupt(signum: int, _frame) -> None:
        raise _Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _reason_kind(reason: str) -> str:
    """The reason without the value it quotes, so that counts group alike lines."""
    import re

    return re.sub(r"« [^»]* »", "«…»", reason)
