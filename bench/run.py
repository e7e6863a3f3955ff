"""psc-mock against peer providers, measured the same way in one run.

    python bench/run.py [--quick] [--update-readme]

Installs the peers into git-ignored folders (node ``oidc-provider`` and
``oauth2-mock-server`` from npm into ``bench/peers-src/node_modules``, ``oidc-provider-mock``
from PyPI into a Python 3.12 venv under ``bench/peers/``) and ``wrk`` from Debian if
missing; starts each server and psc-mock as a subprocess on loopback; measures spawn →
ready, discovery and client_credentials throughput with wrk (c=4), the code flow against
``oidc-provider-mock`` (the same wrk script: authorize → code → token) with 4 clients and
with 256 at once, the full flow's latency (authorize + token + userinfo, through a thin
``http.client`` connection and through ``requests``) and CIBA's (request + automatic
approval + first poll), alone and while wrk asks client_credentials tokens. A floor is
measured too: ``peers-src/flask_authlib_floor.py``, psc-mock's stack with nothing of PSC.
Prints a table with ratios, writes ``bench/results/<date>.{json,md,png}``.

Servers and load share the machine's cores, as they do in a CI job.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import psutil
import requests
from common import compile_psc_mock, free_port, machine, spawn_ready

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS_SRC = BENCH / "peers-src"
OPM_VENV = BENCH / "peers" / "opm-venv"
RESULTS = BENCH / "results"
LUA = BENCH / "lua"
README = ROOT / "README.md"
REALM = "/auth/realms/esante-wallet"
WORKERS = "psc-mock-workers-2"  # psc-mock serve --workers 2
CROWD = 256  # clients at once for the code flow: a training room, a load test
FLOOR = "flask-authlib-floor"  # peers-src/flask_authlib_floor.py: our stack, nothing of PSC
LABELS = {
    WORKERS: "psc-mock --workers 2",
    "oidc-provider": "oidc-provider (node)",
    "oauth2-mock-server": "oauth2-mock-server (node)",
    "oidc-provider-mock": "oidc-provider-mock (Flask)",
    FLOOR: "Flask + Authlib floor",
}
OIDC = REALM + "/protocol/openid-connect"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636's example pair
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
AUTO = "899700100011"
PSC_SCOPE = {"scope": "openid scope_all", "acr_values": "eidas1"}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class Server:
    """How to start one provider and what to ask it."""

    name: str
    command: Callable[[int], list[str]]
    ready_path: str
    discovery_path: str = ""
    token_path: str = ""
    token_body: str = "grant_type=client_credentials"
    token_auth: str = ""
    process: subprocess.Popen | None = None
    port: int = 0
    results: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> float:
        """Spawn, then poll the readiness URL: seconds until its first 200."""
        self.port = free_port()
        self.process, ready = spawn_ready(self.command(self.port), self.base + self.ready_path)
        return ready

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def psc_mock(name: str, *options: str) -> Server:
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "idp", "serve", "--port", str(port), *options]

    return Server(
        name,
        command,
        "/_mock/health/ready",
        REALM + "/.well-known/openid-configuration",
        OIDC + "/token",
        token_auth=basic("psc-mock-service", "psc-mock-service-secret"),
    )


def servers() -> dict[str, Server]:
    node = shutil.which("node") or "node"
    python = str(OPM_VENV / "bin" / "oidc-provider-mock")
    return {
        "psc-mock": psc_mock("psc-mock"),
        WORKERS: psc_mock(WORKERS, "--workers", "2"),
        "oidc-provider": Server(
            "oidc-provider",
            lambda port: [node, str(PEERS_SRC / "oidc-provider.mjs"), str(port)],
            "/.well-known/openid-configuration",
            "/.well-known/openid-configuration",
            "/token",
            token_auth=basic("bench", "bench-secret"),
        ),
        "oauth2-mock-server": Server(
            "oauth2-mock-server",
            lambda port: [node, str(PEERS_SRC / "oauth2-mock-server.mjs"), str(port)],
            "/.well-known/openid-configuration",
            "/.well-known/openid-configuration",
            "/token",
            token_auth=basic("bench", "bench-secret"),
        ),
        "oidc-provider-mock": Server(
            "oidc-provider-mock",
            lambda port: [python, "--port", str(port)],
            "/.well-known/openid-configuration",
            "/.well-known/openid-configuration",
        ),
        FLOOR: Server(
            FLOOR,
            lambda port: [sys.executable, str(PEERS_SRC / "flask_authlib_floor.py"), str(port)],
            "/ready",
            token_path="/token",
            token_auth=basic("bench", "bench-secret"),
        ),
    }


# --- installing the peers ---------------------------------------------------------------


def install() -> None:
    compile_psc_mock()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "wrk"], check=True)
    if not (PEERS_SRC / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--silent", "--prefix", str(PEERS_SRC)], check=True)
    if not (OPM_VENV / "bin" / "oidc-provider-mock").exists():
        interpreter = _python_3_12()
        subprocess.run([interpreter, "-m", "venv", str(OPM_VENV)], check=True)
        pip = [str(OPM_VENV / "bin" / "pip"), "install", "-q", "oidc-provider-mock==0.4.8"]
        subprocess.run(pip, check=True)


def _python_3_12() -> str:
    """A Python >= 3.12 that runs (pyenv's shims exist for versions that are not active)."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = sorted((pyenv / "versions").glob("3.1[2-9]*"))
    candidates = [str(version / "bin" / "python") for version in versions]
    candidates += filter(None, [shutil.which("python3.13"), shutil.which("python3.12")])
    for candidate in candidates:
        if subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    raise SystemExit("oidc-provider-mock needs Python >= 3.12: none found")


# --- measures ------------------------------------------------------------------------------


def wrk(url: str, script: str, seconds: int, threads: int = 2, conns: int = 4, **env) -> dict:
    """Run wrk with one of bench/lua's scripts; its JSON line, plus requests per second."""
    command, environment = _wrk_command(url, script, seconds, threads, conns, env)
    output = subprocess.run(command, capture_output=True, text=True, env=environment).stdout
    match = re.search(r"^JSON (.*)$", output, re.M)
    if not match:
        raise SystemExit(f"wrk gave no summary:\n{output}")
    summary = json.loads(match.group(1))
    summary["rps"] = round(summary["requests"] / (summary["duration_us"] / 1e6), 1)
    return summary


def _wrk_command(
    url: str, script: str, seconds: int, threads: int, conns: int, env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    command = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "-s", str(LUA / script), url]
    return command, {**os.environ, "LUA_DIR": str(LUA), **env}


def code_flow(server: Server, seconds: int, clients: int, env: dict[str, str]) -> dict:
    """wrk's code flow script, one thread per client (the script keeps one flow's state per
    thread); a flow is two requests."""
    summary = wrk(server.base, "code_flow.lua", seconds, clients, clients, **env)
    summary["flows_per_s"] = round(summary["rps"] / 2, 1)
    return summary


@contextmanager
def client_credentials_load(server: Server) -> Iterator[None]:
    """wrk asking ``server`` for client_credentials tokens (c=4) while the block runs."""
    command, environment = _wrk_command(
        server.base + server.token_path,
        "post.lua",
        3600,
        2,
        4,
        {"BODY": server.token_body, "AUTH": server.token_auth},
    )
    load = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)  # wrk connected and the server busy
        yield
    finally:
        load.terminate()
        load.wait(10)


def spawn_to_ready(server: Server, times: int) -> float:
    samples = []
    for _ in range(times):
        samples.append(server.start())
        server.stop()
    return round(statistics.median(samples), 3)


def psc_code_flow_env() -> dict[str, str]:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": "psc-mock-ci",
            "redirect_uri": "http://localhost:9999/callback",
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "state": "bench",
            "nonce": "bench",
            "login_hint": AUTO,
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
        }
    )
    return {
        "AUTHORIZE_PATH": "/auth?" + query,
        "TOKEN_PATH": OIDC + "/token",
        "TOKEN_BODY": "grant_type=authorization_code&redirect_uri=http%3A%2F%2Flocalhost%3A9999"
        f"%2Fcallback&code_verifier={VERIFIER}",
        "AUTH": basic("psc-mock-ci", "psc-mock-ci-secret"),
    }


def opm_code_flow_env() -> dict[str, str]:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": "bench",
            "redirect_uri": "http://localhost/callback",
            "scope": "openid",
            "state": "bench",
            "nonce": "bench",
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
        }
    )
    return {
        "AUTHORIZE_METHOD": "POST",  # its login form, answered with a subject
        "AUTHORIZE_PATH": "/oauth2/authorize?" + query,
        "AUTHORIZE_BODY": "sub=alice",
        "TOKEN_PATH": "/oauth2/token",
        "TOKEN_BODY": "grant_type=authorization_code&redirect_uri=http%3A%2F%2Flocalhost"
        f"%2Fcallback&code_verifier={VERIFIER}",
        "AUTH": basic("bench", "bench-secret"),
    }


class ThinClient:
    """One kept-alive connection through ``http.client``: about 0.1 ms a request of its
    own, so that the latency measured is the server's. (``requests`` adds about 1 ms a
    request on this machine; :class:`RequestsClient` measures that too.)"""

    def __init__(self, base: str) -> None:
        host, port = base.split("//")[1].split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=5)

    def call(self, method: str, path: str, body: str = "", headers: dict | None = None):
        self.connection.request(method, path, body=body or None, headers=headers or {})
        answer = self.connection.getresponse()
        return answer.status, answer.getheader("Location", ""), answer.read()


class RequestsClient:
    """What a Python test suite sees: a ``requests`` session."""

    def __init__(self, base: str) -> None:
        self.base, self.session = base, requests.Session()

    def call(self, method: str, path: str, body: str = "", headers: dict | None = None):
        answer = self.session.request(
            method, self.base + path, data=body, headers=headers, allow_redirects=False, timeout=5
        )
        return answer.status_code, answer.headers.get("Location", ""), answer.content


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def full_flow_latency(client, rounds: int) -> dict:
    """authorize (login_hint + auto) → token → userinfo, sequential, on one connection."""
    env = psc_code_flow_env()
    auth = {"Authorization": env["AUTH"], **FORM}
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        _, location, _ = client.call("GET", env["AUTHORIZE_PATH"])
        code = re.search(r"[?&]code=([^&]+)", location).group(1)
        body = f"{env['TOKEN_BODY']}&code={code}"
        tokens = json.loads(client.call("POST", env["TOKEN_PATH"], body, auth)[2])
        bearer = {"Authorization": "Bearer " + tokens["access_token"]}
        assert client.call("GET", OIDC + "/userinfo", headers=bearer)[0] == 200
        samples.append(time.perf_counter() - started)
    return latency(samples)


def ciba_latency(client, rounds: int) -> dict:
    """Backchannel request for an auto-approving identity, then the first poll: tokens."""
    auth = {"Authorization": basic("psc-mock-ciba", "psc-mock-ciba-secret"), **FORM}
    start = urlencode({**PSC_SCOPE, "login_hint": AUTO, "binding_message": "42"})
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        status, _, begun = client.call("POST", OIDC + "/ext/ciba/auth", start, auth)
        assert status == 200, begun
        poll = {"grant_type": "urn:openid:params:grant-type:ciba", **json.loads(begun)}
        status, _, tokens = client.call("POST", OIDC + "/token", urlencode(poll), auth)
        assert status == 200, tokens
        samples.append(time.perf_counter() - started)
    return latency(samples)


def latency(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 2),
        "per_s_sequential": round(len(ordered) / sum(ordered), 1),
    }


def measure(quick: bool) -> dict:
    seconds, rounds, starts = (3, 100, 3) if quick else (10, 500, 5)
    everyone = servers()
    results: dict = {name: {} for name in everyone}
    for name, server in everyone.items():
        print(f"· {name}: spawn → ready", flush=True)
        results[name]["spawn_to_ready_s"] = spawn_to_ready(server, starts)
        server.start()
        try:
            if server.discovery_path:
                results[name]["discovery"] = wrk(
                    server.base + server.discovery_path, "get.lua", seconds
                )
            if server.token_path:
                print(f"· {name}: client_credentials", flush=True)
                results[name]["client_credentials"] = wrk(
                    server.base + server.token_path,
                    "post.lua",
                    seconds,
                    BODY=server.token_body,
                    AUTH=server.token_auth,
                )
            flow = {
                "psc-mock": psc_code_flow_env,
                WORKERS: psc_code_flow_env,
                "oidc-provider-mock": opm_code_flow_env,
            }
            if name in flow:
                print(f"· {name}: code flow, 4 then {CROWD} clients", flush=True)
                results[name]["code_flow"] = code_flow(server, seconds, 4, flow[name]())
                results[name]["code_flow_crowd"] = code_flow(server, seconds, CROWD, flow[name]())
            if name == "psc-mock":
                print("· psc-mock: full flow and CIBA latency, alone then under load", flush=True)
                thin, usual = ThinClient(server.base), RequestsClient(server.base)
                results[name]["full_flow"] = full_flow_latency(thin, rounds)
                results[name]["full_flow_requests"] = full_flow_latency(usual, rounds)
                results[name]["ciba"] = ciba_latency(thin, rounds)
                with client_credentials_load(server):
                    results[name]["full_flow_loaded"] = full_flow_latency(thin, rounds // 5)
                    results[name]["ciba_loaded"] = ciba_latency(thin, rounds // 5)
                results[name]["rss_mb"] = round(
                    psutil.Process(server.process.pid).memory_info().rss / 2**20
                )
        finally:
            server.stop()
    return results


# --- reporting --------------------------------------------------------------------------


def table(run: dict) -> str:
    r = run["results"]
    psc = r["psc-mock"]

    def ratio(peer: float, ours: float, higher_is_better: bool = True) -> str:
        if not peer or not ours:
            return "-"
        value = ours / peer if higher_is_better else peer / ours
        return f"{value:.2f}x"

    def rps(name: str, key: str) -> float:
        return r[name].get(key, {}).get("rps", 0)

    def lat(name: str, key: str) -> str:
        found = r[name].get(key)
        return f"{found['p50_us'] / 1000:.1f} / {found['p99_us'] / 1000:.1f}" if found else "-"

    def flows(name: str, key: str) -> str:
        found = r[name].get(key)
        if not found:
            return "-"
        failed = found["errors"] + found["non2xx"]
        return f"{found['flows_per_s']:.0f} ({lat(name, key)})" + (
            f", {failed} failed" if failed else ""
        )

    def sequential(key: str) -> str:
        return f"{psc[key]['p50_ms']} / {psc[key]['p99_ms']} ms" if key in psc else "-"

    rows = [
        "| Measure | " + " | ".join(LABELS.get(n, n) for n in r) + " |",
        "|---" * (len(r) + 1) + "|",
        "| spawn → ready, s | " + " | ".join(str(r[n]["spawn_to_ready_s"]) for n in r) + " |",
        "| discovery, req/s (p50 / p99 ms) | "
        + " | ".join(
            f"{rps(n, 'discovery'):.0f} ({lat(n, 'discovery')})" if "discovery" in r[n] else "-"
            for n in r
        )
        + " |",
        "| client_credentials RS256, tokens/s (p50 / p99 ms) | "
        + " | ".join(
            f"{rps(n, 'client_credentials'):.0f} ({lat(n, 'client_credentials')})"
            if "client_credentials" in r[n]
            else "-"
            for n in r
        )
        + " |",
        "| code flow, flows/s (per-request p50 / p99 ms) | "
        + " | ".join(flows(n, "code_flow") for n in r)
        + " |",
        f"| code flow, {CROWD} clients at once, flows/s (p50 / p99 ms) | "
        + " | ".join(flows(n, "code_flow_crowd") for n in r)
        + " |",
    ]

    def flow_ratio(name: str, key: str) -> str:
        def flows_per_s(server: str) -> float:
            return r.get(server, {}).get(key, {}).get("flows_per_s", 0)

        return ratio(flows_per_s("oidc-provider-mock"), flows_per_s(name))

    spawn = ratio(r["oidc-provider"]["spawn_to_ready_s"], psc["spawn_to_ready_s"], False)
    tokens = ratio(
        rps("oidc-provider", "client_credentials"), rps("psc-mock", "client_credentials")
    )
    floor = ratio(rps(FLOOR, "client_credentials"), rps("psc-mock", "client_credentials"))
    tokens_2 = ratio(rps("oidc-provider", "client_credentials"), rps(WORKERS, "client_credentials"))
    ratios = [
        "",
        "| Ratio (psc-mock vs peer; > 1 means psc-mock is better) | value | target |",
        "|---|---|---|",
        f"| spawn → ready, oidc-provider / psc-mock | {spawn} | > 1 (and < 0.5 s) |",
        f"| client_credentials, psc-mock / oidc-provider | {tokens} | ≥ 1 |",
        f"| client_credentials, psc-mock / Flask + Authlib floor | {floor} | - |",
        f"| code flow, psc-mock / oidc-provider-mock | {flow_ratio('psc-mock', 'code_flow')} "
        "| ≥ 5 |",
        f"| client_credentials, psc-mock --workers 2 / oidc-provider | {tokens_2} | ≥ 1 |",
        f"| code flow, psc-mock --workers 2 / oidc-provider-mock | "
        f"{flow_ratio(WORKERS, 'code_flow')} | ≥ 5 |",
        f"| code flow, {CROWD} clients at once, psc-mock / oidc-provider-mock | "
        f"{flow_ratio('psc-mock', 'code_flow_crowd')} "
        f"({flow_ratio(WORKERS, 'code_flow_crowd')} with `--workers 2`) | - |",
        f"| full flow (authorize + token + userinfo), p50 / p99 | {sequential('full_flow')} "
        f"(with `requests`: {sequential('full_flow_requests')}) | p50 < 5 ms |",
        f"| CIBA request + approval + first poll, p50 / p99 | {sequential('ciba')} | - |",
        f"| full flow while wrk asks client_credentials tokens (c=4), p50 / p99 | "
        f"{sequential('full_flow_loaded')} | - |",
        f"| CIBA under that load, p50 / p99 | {sequential('ciba_loaded')} | - |",
    ]
    m = run["machine"]
    head = (
        f"Measured {run['date']} on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB "
        f"(Python {m['python']}, Node {m['node']}), servers and wrk (c=4 unless said) on the "
        "same cores."
    )
    return "\n".join([head, "", *rows, *ratios]) + "\n"


def _colours(names: list[str]) -> list[str]:
    return ["#000091" if name.startswith("psc-mock") else "#999" for name in names]


def chart(run: dict, path: Path) -> None:
    """Throughput (discovery, tokens, code flows with 4 and 256 clients) and the token
    endpoint's latency, one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = run["results"]
    names = list(r)
    figure, axes = plt.subplots(1, 4, figsize=(18, 4.5))
    for axis, key, label in (
        (axes[0], "discovery", "discovery, req/s"),
        (axes[1], "client_credentials", "client_credentials, tokens/s"),
    ):
        axis.bar(names, [r[n].get(key, {}).get("rps", 0) for n in names], color=_colours(names))
        axis.set_title(label)
    flowing = [n for n in names if "code_flow" in r[n]]
    _pairs(
        axes[2],
        flowing,
        [r[n]["code_flow"]["flows_per_s"] for n in flowing],
        [r[n].get("code_flow_crowd", {}).get("flows_per_s", 0) for n in flowing],
        ("4 clients", f"{CROWD} clients"),
    )
    axes[2].set_title("code flows/s")
    timed = [n for n in names if "client_credentials" in r[n]]
    _pairs(
        axes[3],
        timed,
        [r[n]["client_credentials"]["p50_us"] / 1000 for n in timed],
        [r[n]["client_credentials"]["p99_us"] / 1000 for n in timed],
        ("p50", "p99"),
    )
    axes[3].set_title("client_credentials latency, ms (lower is better)")
    for axis in axes:
        axis.tick_params(axis="x", rotation=25)
    figure.suptitle(f"psc-mock and peers, {run['date'][:10]} (throughput: higher is better)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def _pairs(axis, names: list[str], first: list[float], second: list[float], labels) -> None:
    """Two bars a server: the first solid, the second hatched."""
    places = range(len(names))
    axis.bar([p - 0.2 for p in places], first, 0.4, color=_colours(names), label=labels[0])
    axis.bar(
        [p + 0.2 for p in places],
        second,
        0.4,
        color=_colours(names),
        hatch="//",
        alpha=0.6,
        label=labels[1],
    )
    axis.set_xticks(list(places), names)
    axis.legend()


def update_readme(markdown: str) -> None:
    text = README.read_text(encoding="utf-8")
    block = f"<!-- bench:start -->\n{markdown}<!-- bench:end -->"
    updated = re.sub(r"<!-- bench:start -->.*?<!-- bench:end -->", block, text, flags=re.S)
    README.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3-second runs, for trying")
    parser.add_argument("--update-readme", action="store_true", help="write the README table")
    args = parser.parse_args()
    install()
    run = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": args.quick,
    }
    run["results"] = measure(args.quick)
    markdown = table(run)
    print("\n" + markdown)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / datetime.now(UTC).strftime("%Y-%m-%d")
    stem.with_suffix(".json").write_text(json.dumps(run, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown)
    chart(run, stem.with_suffix(".png"))
    print(f"results: {stem}.json, .md, .png")
    if args.update_readme:
        update_readme(markdown)


if __name__ == "__main__":
    main()
