"""Soak: a mock under a steady mix of flows for minutes, its memory and speed sampled.

    python bench/soak.py [--minutes 10] [--workers 4] [--data-dir DIR]

Starts ``psc-mock serve`` in its own process, runs code flows (login_hint + auto),
refreshes, userinfo, introspection, revocation, client_credentials and CIBA polls from
``--workers`` threads, samples the server's RSS every few seconds with psutil, times every
call, and writes ``bench/results/soak-<date>.json``. Memory is called flat when the slope
over the second half of the run (after warm-up) is under 1 MB per minute. Speed is called
steady when, for each kind of call, the last minute's median takes under 1.5 times the
first minute's: what a mock remembers must not slow it down (CIBA requests once went from
4.1 to 7.8 ms over 1,200 of one identity, each reading all the earlier ones). 5xx answers
are counted.

Sessions and refresh tokens live 30 minutes idle (PSC's lifetimes), so a mock that opens
new sessions non-stop grows for 30 minutes before expiries balance creations. To see
that steady state within a short soak, ``--lifetime SECONDS`` (default 60) shortens the
session and refresh-token lifetimes of the soaked mock; ``--lifetime 0`` keeps PSC's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import requests
from common import free_port, machine, spawn_ready
from rich.console import Console
from rich.progress import Progress

RESULTS = Path(__file__).parent / "results"
REALM = "/auth/realms/esante-wallet/protocol/openid-connect"
CI = ("psc-mock-ci", "psc-mock-ci-secret")
SERVICE = ("psc-mock-service", "psc-mock-service-secret")
CIBA = ("psc-mock-ciba", "psc-mock-ciba-secret")
AUTO = "899700100011"
FLAT_MB_PER_MINUTE = 1.0
STEADY_RATIO = 1.5  # a kind of call's median in the last minute / in the first
PSC = {"scope": "openid scope_all", "acr_values": "eidas1"}


def start_mock(port: int, data_dir: str | None, lifetime: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "idp", "serve", "--port", str(port)]
    command += ["--data-dir", data_dir] if data_dir else []
    if lifetime:
        for setting in ("--session-idle", "--refresh-token-lifetime"):
            command += [setting, str(lifetime)]
        command += ["--session-max", str(lifetime * 4)]
    return spawn_ready(command, f"http://localhost:{port}/_mock/health/ready")[0]


class Flows:
    """One worker's mix of what relying parties do, counting answers by status."""

    def __init__(self, base: str, statuses: Counter, timings: list, started: float) -> None:
        self.oidc = base + REALM
        self.base = base
        self.http = requests.Session()
        self.statuses = statuses
        self.timings = timings  # (call, minute of the run, seconds)
        self.started = started

    def _count(self, call: str, response: requests.Response) -> requests.Response:
        self.statuses[response.status_code // 100 * 100] += 1
        minute = int((time.monotonic() - self.started) // 60)
        self.timings.append((call, minute, response.elapsed.total_seconds()))
        return response

    def code_flow(self) -> dict:
        params = {
            "response_type": "code",
            "client_id": CI[0],
            "redirect_uri": "http://localhost:9999/callback",
            "state": "soak",
            "nonce": "soak",
            "login_hint": AUTO,
            **PSC,
        }
        answer = self._count(
            "authorize",
            self.http.get(self.base + "/auth", params=params, allow_redirects=False, timeout=10),
        )
        code = answer.headers["Location"].split("code=")[1].split("&")[0]
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
        }
        return self._count(
            "code", self.http.post(self.oidc + "/token", data=data, auth=CI, timeout=10)
        ).json()

    def round(self, number: int) -> None:
        tokens = self.code_flow()
        bearer = {"Authorization": "Bearer " + tokens["access_token"]}
        self._count("userinfo", self.http.get(self.oidc + "/userinfo", headers=bearer, timeout=10))
        token = {"token": tokens["access_token"]}
        self._count(
            "introspect", self.http.post(self.oidc + "/token/introspect", data=token, auth=CI)
        )
        refreshed = self._count(
            "refresh",
            self.http.post(
                self.oidc + "/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                auth=CI,
                timeout=10,
            ),
        ).json()
        if number % 2:  # half the clients clean up, as a well-behaved test suite does
            revoke = {"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"}
            self._count(
                "revoke", self.http.post(self.oidc + "/revoke", data=revoke, auth=CI, timeout=10)
            )
        service = {"grant_type": "client_credentials"}
        self._count(
            "client_credentials",
            self.http.post(self.oidc + "/token", data=service, auth=SERVICE, timeout=10),
        )
        if number % 5 == 0:
            ciba = {**PSC, "login_hint": AUTO, "binding_message": "42"}
            started = self._count(
                "ciba",
                self.http.post(self.oidc + "/ext/ciba/auth", data=ciba, auth=CIBA, timeout=10),
            ).json()
            poll = {"grant_type": "urn:openid:params:grant-type:ciba", **started}
            self._count(
                "ciba_poll",
                self.http.post(self.oidc + "/token", data=poll, auth=CIBA, timeout=10),
            )


def slope_mb_per_minute(samples: list[tuple[float, float]]) -> float:
    times = [t / 60 for t, _ in samples]
    rss = [mb for _, mb in samples]
    return statistics.linear_regression(times, rss).slope if len(samples) > 2 else 0.0


def ms_by_minute(timings: list[tuple[str, int, float]], minutes: int) -> dict[str, list]:
    """Each kind of call's median, in ms, in each whole minute of the run."""
    samples: dict[str, dict[int, list[float]]] = {}
    for call, minute, seconds in timings:
        if minute < minutes:
            samples.setdefault(call, {}).setdefault(minute, []).append(seconds)
    return {
        call: [round(statistics.median(by[m]) * 1000, 2) for m in sorted(by)]
        for call, by in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--data-dir", help="run the mock with this --data-dir")
    parser.add_argument("--lifetime", type=int, default=60, help="session/refresh seconds")
    args = parser.parse_args()
    console = Console()
    port = free_port()
    process = start_mock(port, args.data_dir, args.lifetime)
    server = psutil.Process(process.pid)
    statuses: Counter = Counter()
    rounds = Counter()
    timings: list[tuple[str, int, float]] = []
    errors: list[str] = []
    stop = threading.Event()

    started = time.monotonic()

    def worker() -> None:
        flows = Flows(f"http://localhost:{port}", statuses, timings, started)
        number = 0
        while not stop.is_set():
            try:
                flows.round(number)
                rounds["done"] += 1
            except Exception as exc:
                errors.append(repr(exc)[:200])
            number += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.workers)]
    for thread in threads:
        thread.start()
    samples: list[tuple[float, float]] = []
    duration = args.minutes * 60
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("soak", total=duration)
        while (elapsed := time.monotonic() - started) < duration:
            samples.append((elapsed, server.memory_info().rss / 2**20))
            progress.update(task, completed=elapsed, description=f"RSS {samples[-1][1]:.0f} MB")
            time.sleep(args.sample_every)
    stop.set()
    for thread in threads:
        thread.join(15)
    process.terminate()
    process.wait(10)

    settled = [sample for sample in samples if sample[0] >= duration / 2]
    slope = slope_mb_per_minute(settled)
    by_minute = ms_by_minute(timings, int(args.minutes))
    slowing = {
        call: round(ms[-1] / ms[0], 2)
        for call, ms in by_minute.items()
        if len(ms) > 1 and ms[-1] >= STEADY_RATIO * ms[0]
    }
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "minutes": args.minutes,
        "workers": args.workers,
        "data_dir": bool(args.data_dir),
        "session_and_refresh_lifetime": args.lifetime or "PSC's (30 min idle)",
        "rounds": rounds["done"],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "client_errors": len(errors),
        "first_errors": errors[:5],
        "rss_mb": {
            "start": samples[0][1],
            "end": samples[-1][1],
            "max": max(s[1] for s in samples),
        },
        "slope_mb_per_minute_second_half": round(slope, 3),
        "flat": slope < FLAT_MB_PER_MINUTE,
        "ms_p50_by_minute": by_minute,
        "slowing": slowing,
        "steady": not slowing,
        "samples": [(round(t, 1), round(mb, 1)) for t, mb in samples],
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"soak-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    verdict = "flat" if result["flat"] else "GROWING"
    pace = f"SLOWING {slowing}" if slowing else "steady"
    console.print(
        f"{rounds['done']} rounds, statuses {result['statuses']}, client errors {len(errors)}; "
        f"RSS {result['rss_mb']['start']:.0f} → {result['rss_mb']['end']:.0f} MB, "
        f"slope {slope:+.2f} MB/min over the second half: [bold]{verdict}[/]; "
        f"each call's median, last minute against first: [bold]{pace}[/]  ({out})"
    )
    if statuses.get(500) or not result["flat"] or slowing:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
