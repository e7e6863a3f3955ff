"""The national directory at full size: generate, import, serve, look up.

    python bench/directory.py [--rows 2000000] [--keep]

Generates a synthetic extraction (``psc-mock directory generate``) into the git-ignored
``bench/peers/national/``, imports it (``psc-mock directory import``), starts
``psc-mock serve --directory`` and measures: import time and index size, spawn → ready,
the server's RSS, lookups by idNat and searches in process and over HTTP (p50/p99).
Writes ``bench/results/directory-<date>.json`` and ``.md``. Targets (issue 8): import
under 60 s, ready under 1 s, a lookup under 1 ms, RSS under 200 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import requests
from common import compile_psc_mock, free_port, machine, spawn_ready

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "peers" / "national"
RESULTS = ROOT / "bench" / "results"
PSC_MOCK = [sys.executable, "-m", "idp"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
    }


def serve(index: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    base = f"http://localhost:{port}"
    command = [*PSC_MOCK, "serve", "--port", str(port), "--directory", str(index)]
    process, ready = spawn_ready(command, base + "/_mock/health/ready")
    return process, base, ready


def in_process_lookups(index: Path, ids: list[str]) -> dict:
    sys.path.insert(0, str(ROOT))
    from idp.directory.index import Directory

    directory = Directory.open(index)
    gets, searches = [], []
    for id_nat in ids:
        started = time.perf_counter()
        assert directory.get(id_nat) is not None
        gets.append(time.perf_counter() - started)
    for name in ("MARTIN", "DUPONT", "LEFEBVRE", "GARCIA", "ROUX") * 20:
        started = time.perf_counter()
        directory.search(name, limit=20)
        searches.append(time.perf_counter() - started)
    return {"get": percentiles(gets), "search_name_first_20": percentiles(searches)}


def http_lookups(base: str, ids: list[str]) -> dict:
    http = requests.Session()
    control, fhir = [], []
    for id_nat in ids[:2000]:
        started = time.perf_counter()
        assert http.get(f"{base}/_mock/directory/{id_nat}", timeout=5).ok
        control.append(time.perf_counter() - started)
    for id_nat in ids[:500]:
        started = time.perf_counter()
        answer = http.get(
            f"{base}/fhir/v2/Practitioner",
            params={"identifier": id_nat},
            headers={"Accept": "application/fhir+json"},
            timeout=5,
        )
        assert answer.ok and len(answer.json()["entry"]) == 1, answer.text[:200]
        fhir.append(time.perf_counter() - started)
    return {"control_get": percentiles(control), "fhir_by_identifier": percentiles(fhir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the file and the index")
    args = parser.parse_args()
    compile_psc_mock()
    WORK.mkdir(parents=True, exist_ok=True)
    extraction = WORK / "Extraction_ProSanteConnect_Personne_activite_202401010000.txt"
    index = WORK / "annuaire.sqlite"
    index.unlink(missing_ok=True)
    generate = [*PSC_MOCK, "directory", "generate", str(extraction), "--rows", str(args.rows)]
    generated = timed(generate)
    imported = timed([*PSC_MOCK, "directory", "import", str(extraction), "--index", str(index)])
    with sqlite3.connect(index) as db:
        ids = [row[0] for row in db.execute("SELECT id_nat FROM practitioner")]
    sample = random.Random(0).sample(ids, min(10_000, len(ids)))
    process, base, ready = serve(index)
    try:
        http = http_lookups(base, sample)
        rss = psutil.Process(process.pid).memory_info().rss / 2**20
    finally:
        process.terminate()
        process.wait(10)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rows": args.rows,
        "people": len(ids),
        "file_mb": round(extraction.stat().st_size / 2**20),
        "generate_s": round(generated, 1),
        "import_s": round(imported, 1),
        "index_mb": round(index.stat().st_size / 2**20),
        "spawn_to_ready_s": round(ready, 3),
        "server_rss_mb_after_lookups": round(rss),
        "in_process": in_process_lookups(index, sample),
        "http": http,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"directory-{datetime.now(UTC):%Y-%m-%d}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    if not args.keep:
        extraction.unlink()
        index.unlink()


def markdown(r: dict) -> str:
    inp, http = r["in_process"], r["http"]
    rows = [
        ("generate", f"{r['generate_s']} s", "-"),
        ("import (progress bar, lenient)", f"{r['import_s']} s", "< 60 s"),
        ("index size", f"{r['index_mb']} MB ({r['file_mb']} MB extraction)", "-"),
        ("spawn → ready (`serve --directory`)", f"{r['spawn_to_ready_s']} s", "< 1 s"),
        ("server RSS after lookups", f"{r['server_rss_mb_after_lookups']} MB", "< 200 MB"),
        (
            "get by idNat, in process (p50 / p99)",
            f"{inp['get']['p50_ms']} / {inp['get']['p99_ms']} ms",
            "< 1 ms",
        ),
        (
            "search a name, first 20 (p50 / p99)",
            f"{inp['search_name_first_20']['p50_ms']} / {inp['search_name_first_20']['p99_ms']} ms",
            "-",
        ),
        (
            "GET /_mock/directory/{idNat} (p50 / p99)",
            f"{http['control_get']['p50_ms']} / {http['control_get']['p99_ms']} ms",
            "-",
        ),
        (
            "FHIR Practitioner?identifier= (p50 / p99)",
            f"{http['fhir_by_identifier']['p50_ms']} / {http['fhir_by_identifier']['p99_ms']} ms",
            "-",
        ),
    ]
    machine = r["machine"]
    lines = [
        f"National directory, {r['rows']:,} rows / {r['people']:,} people — {r['date']}, "
        f"{machine['cores']} cores, {machine['ram_gb']} GB, Python {machine['python']}",
        "",
        "| Measure | Result | Target |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
