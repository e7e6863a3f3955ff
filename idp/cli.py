"""``psc-mock``: serve the mock, inspect its directory, print its settings.

Serve flags are generated from :class:`~idp.settings.Settings`, so every setting has one
name in the TOML file, the environment and the command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path
from typing import get_type_hints
from urllib.parse import urlencode

from idp.settings import REALM_PATH, Settings, SettingsError

DEMO_CLIENT = ("psc-mock-demo", "http://localhost:8000/callback")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except (SettingsError, CliError) as exc:
        print(f"psc-mock: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C is how a user stops a command: no stack trace
        return 130


class CliError(Exception):
    """A problem with the user's input, said in one line (no stack trace)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="psc-mock", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the mock on the bundled or given fixtures")
    serve.add_argument("--config", help="TOML settings file (also PSC_MOCK_CONFIG)")
    _add_setting_flags(serve)
    serve.set_defaults(run=_serve)

    settings = commands.add_parser("settings", help="print the settings table")
    settings.add_argument("--markdown", action="store_true", help="as the README's table")
    settings.set_defaults(run=_settings)

    health = commands.add_parser("health", help="exit 0 if the local mock is ready (HEALTHCHECK)")
    health.set_defaults(run=_health)

    from idp.directory_cli import add_directory_commands

    add_directory_commands(commands)

    from idp.ctl_cli import add_ctl_command, add_token_command

    add_ctl_command(commands)
    add_token_command(commands)

    from idp.card_cli import add_card_commands

    add_card_commands(commands)
    return parser


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    hints = get_type_hints(Settings)
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata["doc"].replace("%", "%%")
        if hints[f.name] is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            parser.add_argument(
                flag, default=None, help=help_text, choices=f.metadata["choices"] or None
            )


def load_settings(args: argparse.Namespace) -> Settings:
    overrides = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
    return Settings.load(config_file=getattr(args, "config", None), overrides=overrides)


def _serve(args: argparse.Namespace) -> int:
    from idp.server import MockServer

    settings = load_settings(args)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    if min(settings.workers, settings.threads, settings.active_threads) < 1:
        raise CliError("--workers, --threads and --active-threads must be 1 or more")
    check_folders(settings)
    if settings.workers > 1:
        return _serve_workers(settings)
    try:
        server = MockServer(settings)
    except (OSError, ValueError) as exc:
        raise app_error(exc, f"cannot listen on {settings.host}:{settings.port}") from exc
    server.stop_on_signals()
    print(_banner(server.settings), flush=True)
    _print_admin_token(server)
    server.serve_forever()
    return 0


def _serve_workers(settings: Settings) -> int:
    from idp.prefork import Workers

    workers = Workers(settings)
    workers.start()
    if workers.wait_ready():
        print(_banner(workers.settings), flush=True)
        print(f"  workers    {settings.workers} processes", flush=True)
        if workers.generated_token:
            token = workers.settings.admin_token
            print(f"  control API token (PSC_MOCK_ADMIN_TOKEN)  {token}", flush=True)
    else:
        print("psc-mock: the worker processes did not start (see above)", file=sys.stderr)
        workers.stop()
        workers.wait()
        return 1
    return workers.wait()


def _banner(settings: Settings) -> str:
    client_id, redirect_uri = DEMO_CLIENT
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "state": "demo",
            "nonce": "demo",
        }
    )
    public = settings.effective_public_url
    lines = [
        f"psc-mock is ready on {settings.host}:{settings.port}",
        f"  issuer     {settings.issuer}",
        f"  discovery  {settings.issuer}/.well-known/wallet-openid-configuration",
        f"  login      {public}/auth?{query}",
        f"  phone      {public}/phone/",
        f"  reader     {public}/reader/",
        f"  dashboard  {public}/_mock/ui/",
        f"  control    {public}/_mock/openapi.json",
        f"  health     {public}/_mock/health/ready",
    ]
    if settings.fhir_path:
        lines.insert(-1, f"  fhir       {public}{settings.fhir_path.rstrip('/')}/metadata")
    if settings.backchannel_url:
        lines.insert(2, f"  backchannel {settings.effective_backchannel_url}")
    tls = settings.effective_tls_url
    if tls and settings.tls_port >= 0:
        lines.append(f"  https      {tls} (TLS port {settings.tls_port}: card login, mTLS clients)")
    if tls:
        lines.append(f"  card TLS   {tls}{REALM_PATH}/login-actions/card-tls?tab_id=…")
        lines.append(f"  mTLS token {tls}{REALM_PATH}/protocol/openid-connect/token")
    return "\n".join(lines)


def _print_admin_token(server) -> None:
    """Off loopback or published, with no PSC_MOCK_ADMIN_TOKEN: the generated one, once."""
    from idp.context import EXTENSION

    control = server.app.extensions[EXTENSION].control
    if control.token_generated:
        print(f"  control API token (PSC_MOCK_ADMIN_TOKEN)  {control.admin_token}", flush=True)


def _settings(args: argparse.Namespace) -> int:
    if args.markdown:
        print(Settings.markdown_table())
    else:
        print(json.dumps({f.name: getattr(Settings(), f.name) for f in fields(Settings)}, indent=2))
    return 0


def _health(_args: argparse.Namespace) -> int:
    """The container's HEALTHCHECK: no curl in slim images, so Python asks."""
    import urllib.request

    settings = Settings.load()
    scheme = "https" if settings.tls else "http"
    url = f"{scheme}://127.0.0.1:{settings.port}/_mock/health/ready"
    context = None
    if settings.tls:  # our own listener, whatever its certificate: only readiness matters
        import ssl

        context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"psc-mock: not ready at {url}: {exc}", file=sys.stderr)
        return 1


def check_folders(settings: Settings) -> None:
    """--fixtures and --data-dir name folders (--data-dir may not exist yet): said here,
    by name, rather than as a file inside them that could not be read."""
    if settings.fixtures:
        fixtures_dir(settings.fixtures)
    data_dir = Path(settings.data_dir) if settings.data_dir else None
    if data_dir and data_dir.exists() and not data_dir.is_dir():
        raise CliError(f"--data-dir {settings.data_dir} : pas un dossier")


def app_error(exc: OSError | ValueError, listening: str = "") -> CliError:
    """The one line to print when the mock could not be built (or bind): a file's error
    names the file (fixtures, --data-dir: they were reported as listening errors), the
    directory's and fixtures' errors name file and line already."""
    from idp.settings import file_problem

    if isinstance(exc, ValueError):
        return CliError(str(exc))
    if exc.filename:
        return CliError(f"{exc.filename} : {file_problem(exc)}")
    return CliError(f"{listening}: {exc}" if listening else str(exc))


def fixtures_dir(value: str | None) -> Path:
    """The fixtures folder given, or the bundled one; CliError if it is not a folder."""
    from idp.app import BUNDLED_FIXTURES

    path = Path(value) if value else BUNDLED_FIXTURES
    if not path.is_dir():
        raise CliError(f"--fixtures {path} : pas un dossier de fixtures")
    return path
