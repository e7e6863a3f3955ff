"""Server-level settings: defaults < TOML file < ``PSC_MOCK_*`` environment < CLI flags.

Every setting is one field below, with its documentation in the field's metadata; the
README's settings table is generated from it (``psc-mock settings --markdown``), so the
code and the docs cannot disagree.
"""

from __future__ import annotations

import codecs
import errno
import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from idp.proxies import networks

ENV_PREFIX = "PSC_MOCK_"
REALM_PATH = "/auth/realms/esante-wallet"


class SettingsError(ValueError):
    """A setting has a value the mock cannot use; the message names its source."""


_FILE_PROBLEMS = {
    errno.ENOENT: "fichier introuvable",
    errno.EISDIR: "c'est un dossier, pas un fichier",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.EACCES: "accès refusé (droits du fichier)",
    errno.EPERM: "accès refusé (droits du fichier)",
    errno.ENOSPC: "disque plein",
}


def file_problem(exc: OSError) -> str:
    """Why a file the user named could not be used, in a few French words: every command
    says it the same way. ``strerror`` alone is None for some errors (seeking a pipe)."""
    return _FILE_PROBLEMS.get(exc.errno or 0) or exc.strerror or str(exc) or type(exc).__name__


def _setting(default: Any, doc: str, *, choices: tuple[str, ...] = ()) -> Any:
    meta = {"doc": doc, "choices": choices}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    host: str = _setting("127.0.0.1", "Address to listen on (`0.0.0.0` in the container).")
    port: int = _setting(8080, "Port to listen on (`0` picks a free port).")
    public_url: str = _setting(
        "",
        "URL browsers use to reach the mock (issuer, authorize, pages). "
        "Default: `http://localhost:<port>`.",
    )
    backchannel_url: str = _setting(
        "",
        "URL relying parties' servers use (token, userinfo, certs), as Keycloak's "
        "back-channel hostname, e.g. `http://psc-mock:8080` in docker compose. "
        "Default: the public URL.",
    )
    trusted_proxies: list[str] = _setting(  # noqa: RUF009 - a field() with a factory
        [],
        "Addresses or networks (`172.16.0.0/12`) whose `X-Forwarded-*` headers are honoured "
        "(comma-separated in the environment). Empty: forwarded headers are ignored.",
    )
    fixtures: str = _setting(
        "",
        "Fixtures directory (`annuaire/`, `credentials.yaml`, `clients.yaml`, `keys/`). "
        "Default: the bundled fixtures.",
    )
    data_dir: str = _setting(
        "", "Directory for persistent state (SQLite). Empty: state lives in memory."
    )
    directory: str = _setting(
        "",
        "A directory index built by `psc-mock directory import` (a national extraction): "
        "opened read-only, not loaded, and served instead of the fixtures' `annuaire/` (the "
        "control API's directory edits answer 409: import again to change it). The "
        "fixtures' credentials and clients still apply. Empty: the fixtures' directory.",
    )
    strict: bool = _setting(
        True,
        "Refuse authorize requests that break PSC's documented rules (`scope_all`, "
        "`acr_values=eidas1`, `state`, `nonce`). `false` behaves as Keycloak.",
    )
    claim_profile: str = _setting(
        "psc-2023",
        "Claim shape: `psc-2023` (`sub` = `f:550dc1c8-…:<idNat>`) or `psc-2026` (UUID `sub`, "
        "`PSISubjectNameID`, `auth_level`, `onrtac:` jti). A client may set its own.",
        choices=("psc-2023", "psc-2026"),
    )
    discovery: str = _setting(
        "psc",
        "Discovery document: `psc` (PSC's own, quirks included) or `accurate` "
        "(advertises only what the mock implements).",
        choices=("psc", "accurate"),
    )
    interns_in_perimeter: bool = _setting(
        True,
        "Internes (medicine, pharmacy, odontology) may log in, as today. `false` applies "
        "the earlier rule that excluded them.",
    )
    access_token_lifetime: int = _setting(120, "Access token lifetime, seconds (PSC: 120).")
    id_token_lifetime: int = _setting(120, "id_token lifetime, seconds (PSC: 120).")
    refresh_token_lifetime: int = _setting(
        1800, "Refresh token idle lifetime, seconds, sliding with use (PSC: 1800)."
    )
    session_max: int = _setting(14400, "SSO session maximum, seconds (PSC: 4 h).")
    session_idle: int = _setting(
        1800,
        "SSO session idle timeout, seconds (PSC: 30 min): a session with no login, SSO "
        "reuse or refresh for that long ends.",
    )
    code_lifetime: int = _setting(60, "Authorization code lifetime, seconds (Keycloak: 60).")
    approval_lifetime: int = _setting(
        120, "How long an e-CPS approval request waits on the phone, seconds."
    )
    ciba_expires_in: int = _setting(
        120,
        "Lifetime of a CIBA authentication request and of its push on the phone "
        "(`expires_in` of the backchannel response), seconds (Keycloak's default, and "
        "ANS's own mock: 120).",
    )
    ciba_interval: int = _setting(
        5,
        "Minimum seconds between two CIBA token polls (`interval`); a faster poll gets "
        "`slow_down` and the interval grows by 5 s (Keycloak's default: 5).",
    )
    login_lifetime: int = _setting(
        1800, "How long a login page stays usable before the user must start again, seconds."
    )
    propagation_delay: int = _setting(
        172800,
        "Delay between registration in the RPPS and PSC knowing the person, seconds "
        "(48 h, seeds 000 and 002).",
    )
    fhir_path: str = _setting(
        "/fhir/v2",
        "Path of the Annuaire Santé FHIR API (`/fhir/v2`, as `gateway.api.esante.gouv.fr`). "
        "Empty: no FHIR API.",
    )
    fhir_api_keys: list[str] = _setting(  # noqa: RUF009 - a field() with a factory
        [],
        "Keys the FHIR API accepts in the `ESANTE-API-KEY` header (comma-separated in the "
        "environment); without one a request gets 401. Empty: no key needed.",
    )
    fhir_restricted: bool = _setting(
        False,
        "Serve the Annuaire's restricted-data profiles (`as-dr-*`: birth date, the order's "
        "phone and e-mail) instead of the public ones (`as-dp-*`).",
    )
    admin_token: str = _setting(
        "",
        "Bearer token the control API (`/_mock/…`, health aside) requires from peers off "
        "loopback, and from every peer once the mock is published (a public URL not on "
        "loopback). Empty: generated at start and printed in both cases. "
        "`none`: no token (throwaway CI containers only).",
    )
    key_retention: int = _setting(
        86400,
        "How long a signing key replaced by a rotation stays in the JWKS and still "
        "verifies tokens, seconds (mock clock).",
    )
    tls: bool = _setting(
        False,
        "Serve HTTPS on `--port` instead of HTTP (server certificate `--tls-cert`); the "
        "default public URL becomes `https://localhost:<port>`.",
    )
    tls_port: int = _setting(
        -1,
        "Port of a second, HTTPS listener serving the same mock (card login by TLS, "
        "`tls_client_auth`, certificate-bound tokens); `0` picks a free port, `-1`: none.",
    )
    tls_url: str = _setting(
        "",
        "URL clients use to reach the HTTPS listener (the card tab links to it). "
        "Default: `https://localhost:<tls-port>`, or the public URL with `--tls`.",
    )
    tls_cert: str = _setting(
        "",
        "Server certificate chain (PEM, leaf first) of the HTTPS listeners. Default: the "
        "test PKI's `server/localhost.fullchain.pem` (localhost, psc-mock, 127.0.0.1, ::1).",
    )
    tls_key: str = _setting(
        "",
        "Private key (PEM, unencrypted) of `--tls-cert`. Default: the test PKI's "
        "`server/localhost.key.pem`.",
    )
    client_cert_header: str = _setting(
        "",
        "Behind a TLS-terminating proxy: request header carrying the client certificate "
        "(URL-encoded PEM, as nginx's `$ssl_client_escaped_cert`), e.g. `X-SSL-Client-Cert`. "
        "Honoured only from `--trusted-proxies`; from any other address the request is "
        "refused (400).",
    )
    threads: int = _setting(16, "Worker threads of the HTTP server (of each process).")
    active_threads: int = _setting(
        2,
        "Of those threads, how many work on requests at once: more mostly wait for the GIL "
        "(one process, wrk's 4 connections: 16 at once 740-860 tokens/s, 2 at once "
        "940-1,070). Requests that wait (a delay, the request log's long poll) let another "
        "work meanwhile, and none waits more than 50 ms for its turn.",
    )
    workers: int = _setting(
        1,
        "Serving processes, for load tests: above 1, they share the port and the store (a "
        "SQLite file: `--data-dir`, else a temporary one removed at exit), and see the "
        "control API's changes to the clock, keys and directory. The request log is kept "
        "per process: its endpoints answer 409 then.",
    )
    log_level: str = _setting("INFO", "Log level.", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"{'https' if self.tls else 'http'}://localhost:{self.port}"

    @property
    def effective_tls_url(self) -> str:
        """Where the HTTPS listener is reached; "" when there is none."""
        if self.tls_url:
            return self.tls_url.rstrip("/")
        if self.tls_port >= 0:
            return f"https://localhost:{self.tls_port}"
        return self.effective_public_url if self.tls else ""

    @property
    def effective_backchannel_url(self) -> str:
        return (self.backchannel_url or self.effective_public_url).rstrip("/")

    @property
    def issuer(self) -> str:
        return self.effective_public_url + REALM_PATH

    @property
    def backchannel_issuer_base(self) -> str:
        return self.effective_backchannel_url + REALM_PATH

    @classmethod
    def load(
        cls,
        *,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Merge the four layers. Each layer's errors name where the bad value came from."""
        environ = os.environ if environ is None else environ
        settings = cls()
        config_file = config_file or environ.get(ENV_PREFIX + "CONFIG")
        if config_file:
            settings = settings.merged(_read_toml(Path(config_file)), str(config_file))
        from_env = {
            f.name: environ[ENV_PREFIX + f.name.upper()]
            for f in fields(cls)
            if ENV_PREFIX + f.name.upper() in environ
        }
        settings = settings.merged(from_env, "environment (PSC_MOCK_*)")
        return settings.merged(
            {k: v for k, v in (overrides or {}).items() if v is not None}, "command line"
        )

    def merged(self, values: Mapping[str, Any], source: str) -> Settings:
        hints = get_type_hints(type(self))
        known = {f.name: f for f in fields(self)}
        changes = {}
        for name, raw in values.items():
            key = name.replace("-", "_")
            if key not in known:
                raise SettingsError(f"{source}: unknown setting '{name}'")
            value = _coerce(raw, hints[key], f"{source}: setting '{name}'")
            choices = known[key].metadata["choices"]
            if choices and value not in choices:
                raise SettingsError(
                    f"{source}: setting '{name}' must be one of {', '.join(choices)}, not {value!r}"
                )
            _check_value(key, value, f"{source}: setting '{name}'")
            changes[key] = value
        return replace(self, **changes)

    @classmethod
    def markdown_table(cls) -> str:
        rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
        for f in fields(cls):
            default = f.default if f.default is not MISSING else f.default_factory()
            shown = f"`{default}`" if default not in ("", []) else "—"
            rows.append(
                f"| `--{f.name.replace('_', '-')}` | `{ENV_PREFIX}{f.name.upper()}` "
                f"| {shown} | {f.metadata['doc']} |"
            )
        return "\n".join(rows)


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's settings table; SettingsError, one line naming the file, for anything
    that makes it unusable (each used to be a stack trace: a folder, an unreadable file,
    Latin-1 text, a ``psc-mock`` key that is not a table)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise SettingsError(f"{path}: configuration file not found") from exc
    except OSError as exc:
        reason = file_problem(exc)
        raise SettingsError(f"{path}: cannot read the configuration file ({reason})") from exc
    raw = raw.removeprefix(codecs.BOM_UTF8)  # Windows editors add one; TOML has none
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{path}: not UTF-8 (byte {exc.start + 1}): TOML files are UTF-8"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    table = data.get("psc-mock", data)
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: 'psc-mock' must be a table of settings, not {table!r}")
    return table


_RANGES = {"port": (0, 65535), "tls_port": (-1, 65535)}  # a port out of range: OverflowError


def _check_value(name: str, value: Any, where: str) -> None:
    if name == "trusted_proxies":
        try:
            networks(value)
        except ValueError as exc:
            raise SettingsError(f"{where}: {exc}") from None
        return
    low, high = _RANGES.get(name, (value, value))
    if not low <= value <= high:
        raise SettingsError(f"{where}: must be between {low} and {high}, not {value}")


def _coerce(raw: Any, kind: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{where}: expected true or false, got {raw!r}")
    if kind is int:
        if isinstance(raw, bool | float):  # int() took true as 1 and 8080.9 as 8080
            raise SettingsError(f"{where}: expected an integer, got {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{where}: expected an integer, got {raw!r}") from exc
    if kind == list[str]:
        if isinstance(raw, str):
            return [item.strip() for item in raw.split(",") if item.strip()]
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            return list(raw)
        raise SettingsError(f"{where}: expected a list of strings, got {raw!r}")
    if not isinstance(raw, str):
        raise SettingsError(f"{where}: expected a string, got {raw!r}")
    return raw
