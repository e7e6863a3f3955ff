"""``psc-mock ctl``: drive a running mock's control API (clock, scenarios, faults, request
log, keys, reset). JSON answers are printed as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def add_ctl_command(commands) -> None:
    ctl = commands.add_parser("ctl", help="drive a running mock's control API")
    ctl.add_argument(
        "--url",
        default=os.environ.get("PSC_MOCK_URL", "http://127.0.0.1:8080"),
        help="the mock's URL (default: $PSC_MOCK_URL or http://127.0.0.1:8080)",
    )
    ctl.add_argument(
        "--token",
        default=os.environ.get("PSC_MOCK_ADMIN_TOKEN"),
        help="admin token off loopback (default: $PSC_MOCK_ADMIN_TOKEN)",
    )
    sub = ctl.add_subparsers(title="ctl commands", dest="ctl_command", required=True)

    clock = sub.add_parser("clock", help="show, freeze, advance, resume or reset the clock")
    clock.add_argument(
        "action",
        nargs="?",
        default="show",
        choices=("show", "freeze", "advance", "resume", "reset"),
    )
    clock.add_argument("by", nargs="?", help="duration for advance: 90s, 30m, 4h, or seconds")
    clock.set_defaults(ctl=_clock)

    scenario = sub.add_parser("scenario", help="set, show or clear an identity's scenario")
    scenario.add_argument("id_nat")
    scenario.add_argument("--policy", choices=("manual", "auto", "deny", "timeout"))
    scenario.add_argument("--delay", type=float, help="seconds before an auto approval")
    scenario.add_argument("--drop", action="append", default=[], metavar="CLAIM")
    scenario.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="CLAIM=JSON",
        help="add or replace a claim (value as JSON, else text)",
    )
    scenario.add_argument("--clear", action="store_true", help="back to the fixtures")
    scenario.set_defaults(ctl=_scenario)

    fault = sub.add_parser("fault", help="inject or clear a fault on an endpoint")
    fault.add_argument(
        "endpoint",
        help="authorize, token, userinfo, certs, discovery, "
        "introspect, revoke, logout, ciba (or 'all' with --clear)",
    )
    fault.add_argument("--status", type=int)
    fault.add_argument("--error")
    fault.add_argument("--description", dest="error_description")
    fault.add_argument("--delay", help="seconds or a duration (90s)")
    fault.add_argument("--times", type=int, help="next N calls (default: until cleared)")
    fault.add_argument("--clear", action="store_true")
    fault.set_defaults(ctl=_fault)

    reset = sub.add_parser("reset", help="back to the fixtures")
    reset.set_defaults(ctl=lambda control, args: control.call("POST", "/reset", {}))

    log = sub.add_parser("requests", help="list, wait for, or clear received requests")
    log.add_argument("--endpoint")
    log.add_argument("--client-id")
    log.add_argument("--next", action="store_true", help="wait for the next request")
    log.add_argument("--timeout", type=float, default=5)
    log.add_argument("--clear", action="store_true")
    log.set_defaults(ctl=_requests)

    keys = sub.add_parser("keys", help="list or rotate the signing keys")
    keys.add_argument("action", nargs="?", default="list", choices=("list", "rotate"))
    keys.add_argument("--retention", help="how long the previous key stays published")
    keys.set_defaults(ctl=_keys)

    ctl.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from idp.cli import CliError
    from idp.testing.client import Control, ControlError

    control = Control(checked_url(args.url), args.token)
    try:
        result = args.ctl(control, args)
    except ControlError as error:
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("error_description") or body.get("error") or error.body
        raise CliError(f"HTTP {error.status}: {detail}") from error
    except OSError as error:
        raise CliError(f"cannot reach {args.url}: {error}") from error
    if result is not None:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def checked_url(url: str) -> str:
    """The mock's URL, or CliError: urllib raised ValueError for 'notaurl' and
    InvalidURL for a space, as tracebacks."""
    from urllib.parse import urlsplit

    from idp.cli import CliError

    if any(char.isspace() for char in url):
        raise CliError(f"--url {url!r}: a URL has no spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise CliError(f"--url {url!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable():
        raise CliError(f"--url {url!r}: not an http(s) URL (e.g. http://localhost:8080)")
    return url


def _clock(control, args) -> Any:
    if args.action == "show":
        return control.clock()
    if args.action == "advance" and not args.by:
        from idp.cli import CliError

        raise CliError("clock advance needs a duration, e.g. 90s, 30m, 4h")
    body: dict[str, Any] = {"action": args.action}
    if args.by:
        body["by"] = args.by
    return control.call("POST", "/clock", body)


def _scenario(control, args) -> Any:
    if args.clear:
        control.clear_scenario(args.id_nat)
        return None
    values: dict[str, Any] = {}
    if args.policy:
        values["policy"] = args.policy
    if args.delay is not None:
        values["delay"] = args.delay
    claims: dict[str, Any] = {}
    if args.drop:
        claims["drop"] = args.drop
    if args.set:
        claims["set"] = dict(_claim(item) for item in args.set)
    if claims:
        values["claims"] = claims
    if not values:
        return control.call("GET", f"/scenarios/{args.id_nat}")
    return control.set_scenario(args.id_nat, **values)


def _claim(item: str) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    if not sep or not name:
        from idp.cli import CliError

        raise CliError(f"--set expects CLAIM=VALUE, not {item!r}")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def _fault(control, args) -> Any:
    if args.clear:
        control.clear_fault(None if args.endpoint == "all" else args.endpoint)
        return None
    fault = {
        name: getattr(args, name)
        for name in ("status", "error", "error_description", "delay", "times")
        if getattr(args, name) is not None
    }
    return control.fault(args.endpoint, **fault)


def _requests(control, args) -> Any:
    from idp.testing.client import RequestLog

    log = RequestLog(control)
    filters = {"endpoint": args.endpoint, "client_id": args.client_id}
    if args.clear:
        log.clear()
        return None
    if args.next:
        entry = log.next(args.timeout, **filters)
        if entry is None:
            print("no request", file=sys.stderr)
        return entry
    return log.list(**filters)


def _keys(control, args) -> Any:
    if args.action == "rotate":
        return control.rotate_keys(args.retention)
    return control.call("GET", "/keys")


def add_token_command(commands) -> None:
    token = commands.add_parser(
        "token", help="print a signed PSC token set for an idNat, without a login"
    )
    token.add_argument("id_nat")
    token.add_argument("--client", default="psc-mock-ci", help="client_id (default psc-mock-ci)")
    token.add_argument("--means", default="MOBILE", choices=("MOBILE", "CARD"))
    token.add_argument("--scope", default="openid scope_all")
    token.add_argument("--url", help="ask this running mock (default: in-process, same keys)")
    token.add_argument("--token", default=os.environ.get("PSC_MOCK_ADMIN_TOKEN"))
    token.add_argument("--config", help="TOML settings file, in-process (also PSC_MOCK_CONFIG)")
    token.add_argument("--fixtures", help="fixtures directory, in-process")
    token.set_defaults(run=_token)


def _token(args: argparse.Namespace) -> int:
    from idp.cli import CliError

    body = {
        "id_nat": args.id_nat,
        "client_id": args.client,
        "means": args.means,
        "scope": args.scope,
    }
    if args.url:
        from idp.testing.client import Control, ControlError

        try:
            result = Control(checked_url(args.url), args.token).issue_token(**body)
        except ControlError as error:
            detail = error.body.get("error_description") if isinstance(error.body, dict) else None
            raise CliError(f"HTTP {error.status}: {detail or error.body}") from error
        except OSError as error:
            raise CliError(f"cannot reach {args.url}: {error}") from error
    else:
        from idp.app import create_app
        from idp.cli import app_error, check_folders
        from idp.settings import Settings

        overrides = {"fixtures": args.fixtures, "log_level": "WARNING"}
        settings = Settings.load(config_file=args.config, overrides=overrides)
        check_folders(settings)
        try:
            app = create_app(settings)
        except (OSError, ValueError) as exc:  # fixtures, --directory, --data-dir
            raise app_error(exc) from exc
        answer = app.test_client().post("/_mock/tokens", json=body)
        result = answer.get_json()
        if answer.status_code != 200:
            raise CliError(result.get("error_description") or result.get("error"))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
