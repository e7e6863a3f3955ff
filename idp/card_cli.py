"""``psc-mock card …`` and ``psc-mock pki init``: the test PKI and the virtual cards.

Card material lives in ``<fixtures>/pki`` (committed for the bundled fixtures). Card
*state* (PIN tries, lock, opposition) lives in the mock's store: ``card oppose`` and
``card unblock`` write it into ``--data-dir`` (the ``state.sqlite3`` a mock started with
the same ``--data-dir`` uses), since a mock without a data directory keeps it in memory.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

if TYPE_CHECKING:
    from idp.directory.index import Directory

CARD_TYPE_NAMES = ("CPS", "CPF", "CPE", "CPA")
ISSUED_SERIAL_PREFIX = "29"  # serials of cards issued by the CLI: 29xxxxxxxx


def add_card_commands(commands) -> None:
    card = commands.add_parser("card", help="virtual CPS cards: list, issue, export, oppose…")
    actions = card.add_subparsers(title="actions")

    listing = actions.add_parser("list", help="every card of the test PKI, with its state")
    _common(listing, state=True)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(run=_list)

    issue = actions.add_parser("issue", help="issue a new card for a person of the directory")
    issue.add_argument("id_nat", help="the holder's idNat (must be in the directory)")
    issue.add_argument("--type", choices=CARD_TYPE_NAMES, help="default: CPS, or CPE for staff")
    issue.add_argument("--serial", help="10 digits (default: the next free 29xxxxxxxx)")
    issue.add_argument("--not-after", help="last valid day, YYYY-MM-DD (default 2045-12-31)")
    _common(issue)
    issue.set_defaults(run=_issue)

    export = actions.add_parser("export", help="a card's certificate and key: PEM and PKCS#12")
    export.add_argument("serial")
    export.add_argument("--out", required=True, help="directory to write into")
    _common(export)
    export.set_defaults(run=_export)

    softhsm = actions.add_parser("provision-softhsm", help="write a card into a SoftHSM2 token")
    softhsm.add_argument("serial")
    softhsm.add_argument(
        "--softhsm-dir", help="token directory (default: <data-dir>/softhsm or ./softhsm)"
    )
    _common(softhsm, state=True)
    softhsm.set_defaults(run=_provision)

    oppose = actions.add_parser("oppose", help="declare a card opposed (revoked in the CRLs)")
    oppose.add_argument("serial")
    _common(oppose, state=True)
    oppose.set_defaults(run=_oppose)

    unblock = actions.add_parser("unblock", help="reset a card's PIN and PUK try counters")
    unblock.add_argument("serial")
    _common(unblock, state=True)
    unblock.set_defaults(run=_unblock)

    pki = commands.add_parser("pki", help="the test IGC-Santé PKI")
    pki_actions = pki.add_subparsers(title="actions")
    init = pki_actions.add_parser(
        "init", help="issue what fixtures/pki lacks (cards, clients, server)"
    )
    init.add_argument("--renew", action="store_true", help="new authorities and everything")
    _common(init)
    init.set_defaults(run=_pki_init)


def _common(parser: argparse.ArgumentParser, *, state: bool = False) -> None:
    parser.add_argument("--fixtures", help="fixtures directory (default: the bundled one)")
    if state:
        parser.add_argument(
            "--data-dir", help="the mock's data directory, where card states are kept"
        )


def _error(message: str) -> Exception:
    from idp.cli import CliError

    return CliError(message)


def _fixtures(args: argparse.Namespace) -> Path:
    from idp.cli import fixtures_dir

    path = fixtures_dir(args.fixtures)
    if not path.is_dir():
        raise _error(f"fixtures directory {path} does not exist")
    return path


def _pki(args: argparse.Namespace):
    from idp.card.pki import TestPki

    folder = _fixtures(args) / "pki"
    if not (folder / "ca").is_dir():
        raise _error(f"{folder} has no authorities: run psc-mock pki init first")
    return TestPki.load(folder)


def _cards(args: argparse.Namespace, *, need_store: bool):
    """The card service over the given fixtures and the data directory's store."""
    from idp.auth.card import Cards
    from idp.clock import Clock
    from idp.mockdata import MockData, MockDataError
    from idp.store import Store
    from idp.store.sqlite import StoreError

    fixtures = _fixtures(args)
    data_dir = getattr(args, "data_dir", None)
    if need_store and not data_dir:
        raise _error(
            f"{args.action}: card states live in the mock's store: give --data-dir "
            "(the --data-dir of the mock to change)"
        )
    if data_dir and not Path(data_dir).is_dir():
        raise _error(f"--data-dir {data_dir} does not exist")
    clock = Clock()
    try:
        store = Store(clock, Path(data_dir) / "state.sqlite3" if data_dir else None)
        mockdata = MockData.load(fixtures, now=clock.now())
    except (StoreError, MockDataError) as exc:
        raise _error(str(exc)) from exc
    return Cards(_pki(args), store, _directory(fixtures), mockdata)


def _directory(fixtures: Path) -> Directory:
    """The fixtures' directory; their errors (file, line, column) without a traceback."""
    from idp.directory.index import Directory
    from idp.directory.loaders import DirectoryFileError

    try:
        return Directory.from_fixtures(fixtures / "annuaire")
    except DirectoryFileError as exc:
        raise _error(str(exc)) from exc


def _material(cards, serial: str):
    try:
        return cards.material(serial)
    except (KeyError, ValueError):
        raise _error(f"no card {serial!r} in {cards.pki.directory / 'cards'}") from None


def _rows(cards) -> list[dict]:
    from idp.auth.card import declared_card

    rows = []
    for serial in cards.pki.card_serials():
        material = cards.material(serial)
        holder = material.holder
        state = cards.state(serial)
        declared = declared_card(cards.mockdata, serial)
        now = cards.now()
        status = "active"
        if state.opposed_at is not None:
            status = "opposed"
        elif state.locked:
            status = "locked"
        if material.not_after < now:
            status = "expired" if status == "active" else f"{status}, expired"
        rows.append(
            {
                "serial": serial,
                "type": material.card_type.name,
                "id_nat": holder.id_nat,
                "holder": f"{holder.given_name} {holder.family_name}",
                "not_after": material.not_after.date().isoformat(),
                "status": status,
                "pin_tries_left": state.pin_tries_left,
                "declared": declared is not None,
            }
        )
    return rows


def _list(args: argparse.Namespace) -> int:
    args.action = "list"
    rows = _rows(_cards(args, need_store=False))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for title in ("Série", "Type", "idNat", "Porteur", "Fin", "État", "Essais PIN"):
        table.add_column(title, no_wrap=title in ("Série", "idNat", "Fin"))
    for row in rows:
        status = row["status"] + ("" if row["declared"] else " (hors credentials.yaml)")
        table.add_row(
            row["serial"],
            row["type"],
            row["id_nat"],
            row["holder"],
            row["not_after"],
            status,
            str(row["pin_tries_left"]),
        )
    Console().print(table)
    return 0


def _issue(args: argparse.Namespace) -> int:
    from idp.card.pki import CardType, card_validity, holder_for

    pki = _pki(args)
    directory = _directory(_fixtures(args))
    practitioner = directory.get(args.id_nat)
    if practitioner is None:
        raise _error(f"{args.id_nat} is not in the directory ({_fixtures(args) / 'annuaire'})")
    staff = args.id_nat[:1] in ("3", "5") and "/" in args.id_nat
    card_type = CardType[args.type or ("CPE" if staff else "CPS")]
    try:
        holder = holder_for(practitioner, card_type)
    except ValueError as exc:
        raise _error(str(exc)) from exc
    existing = set(pki.card_serials())
    serial = args.serial or _next_serial(existing)
    if not re.fullmatch(r"[0-9]{10}", serial):
        raise _error(f"--serial {serial!r}: 10 digits expected")
    if serial in existing:
        raise _error(f"card {serial} already exists in {pki.directory / 'cards'}")
    try:
        last_day = date.fromisoformat(args.not_after or "2045-12-31")
    except ValueError:
        raise _error(f"--not-after {args.not_after!r}: YYYY-MM-DD expected") from None
    not_before, not_after = card_validity(last_day)
    pki.save_card(pki.issue_card(holder, card_type, serial, not_before, not_after))
    print(
        f"card {serial} ({card_type.name}) issued for {args.id_nat}, valid until "
        f"{last_day.isoformat()}, in {pki.directory / 'cards' / serial}; "
        "PIN 1234, PUK 12345678 (declare it in credentials.yaml to list it in the reader)"
    )
    return 0


def _next_serial(existing: set[str]) -> str:
    number = 1
    while f"{ISSUED_SERIAL_PREFIX}{number:08d}" in existing:
        number += 1
    return f"{ISSUED_SERIAL_PREFIX}{number:08d}"


def _export(args: argparse.Namespace) -> int:
    args.action = "export"
    cards = _cards(args, need_store=False)
    material = _material(cards, args.serial)
    state = cards.state(args.serial)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(f"--out {out}: {exc.strerror}") from exc
    pair = material.authentication
    issuer = cards.pki.authorities[material.card_type.authority].certificate
    base = out / args.serial
    files = {
        base.with_name(f"{args.serial}.cert.pem"): pair.certificate.public_bytes(
            serialization.Encoding.PEM
        ),
        base.with_name(f"{args.serial}.key.pem"): pair.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        base.with_name(f"{args.serial}.chain.pem"): b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (pair.certificate, issuer)
        ),
        base.with_name(f"{args.serial}.p12"): pkcs12.serialize_key_and_certificates(
            f"{material.holder.id_nat} ({args.serial})".encode(),
            pair.key,
            pair.certificate,
            [issuer],
            serialization.BestAvailableEncryption(state.pin.encode()),
        ),
        out / "ca-bundle.pem": cards.pki.bundle_pem(),
    }
    for path, content in files.items():
        path.write_bytes(content)
    print(f"card {args.serial}: authentication certificate and key written to {out}")
    for path in files:
        print(f"  {path}")
    print(f"  (the PKCS#12 is protected by the card's PIN, {state.pin})")
    return 0


def _provision(args: argparse.Namespace) -> int:
    from idp.card.softhsm import SoftHsm, SoftHsmError

    args.action = "provision-softhsm"
    cards = _cards(args, need_store=False)
    material = _material(cards, args.serial)
    state = cards.state(args.serial)
    folder = Path(args.softhsm_dir or Path(args.data_dir or ".") / "softhsm")
    try:
        softhsm = SoftHsm(folder)
        label = softhsm.provision(material, state.pin, state.puk)
    except (SoftHsmError, OSError, ImportError) as exc:
        raise _error(f"provision-softhsm: {exc}") from exc
    print(f"card {args.serial} is SoftHSM2 token {label!r} (PIN {state.pin}, SO PIN = PUK)")
    print(f"  export SOFTHSM2_CONF={softhsm.conf.resolve()}")
    print(f"  pkcs11-tool --module {softhsm.module} --token-label '{label}' -O")
    return 0


def _oppose(args: argparse.Namespace) -> int:
    args.action = "oppose"
    cards = _cards(args, need_store=True)
    _material(cards, args.serial)
    state = cards.oppose(args.serial)
    when = datetime.fromtimestamp(state.opposed_at or 0, UTC).isoformat(timespec="seconds")
    print(f"card {args.serial} opposed since {when}: its certificates are in the CRLs")
    return 0


def _unblock(args: argparse.Namespace) -> int:
    args.action = "unblock"
    cards = _cards(args, need_store=True)
    _material(cards, args.serial)
    cards.unblock(args.serial)
    print(f"card {args.serial} unblocked: PIN and PUK tries reset")
    return 0


def _pki_init(args: argparse.Namespace) -> int:
    from idp.card.pki import init_fixtures
    from idp.directory.loaders import DirectoryFileError
    from idp.mockdata import MockDataError

    fixtures = _fixtures(args)
    try:
        issued = init_fixtures(fixtures, renew=args.renew)
    except (DirectoryFileError, MockDataError, ValueError) as exc:
        raise _error(str(exc)) from exc
    if not issued:
        print(f"{fixtures / 'pki'} is up to date")
    for item in issued:
        print(f"issued {item}")
    return 0
