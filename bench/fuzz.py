"""The long fuzzing run: schemathesis against every public endpoint, random inputs.

    python bench/fuzz.py [--requests 100000]

Runs the suite's schemathesis test (tests/fuzz/test_schemathesis.py) with enough
examples per operation to reach ``--requests`` and fresh random inputs, then counts the
answers by status and operation, the 5xx, the answers that were not documented (a failed
check), and the errors the server logged. Writes ``bench/results/fuzz-<date>.json``.
Exit code: 0 when nothing failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TEST = "tests/fuzz/test_schemathesis.py"


def operation_count() -> int:
    sys.path.insert(0, str(ROOT))
    from idp.server import MockServer
    from idp.settings import Settings

    server = MockServer(Settings(port=0)).start_in_thread()
    try:
        url = server.settings.effective_public_url + "/_mock/openapi-public.json"
        paths = requests.get(url, timeout=5).json()["paths"]
    finally:
        server.stop()
    return sum(len(operations) for operations in paths.values())


def _read_tally(tally: Path) -> tuple[Counter, Counter, int]:
    statuses: Counter = Counter()
    by_operation: Counter = Counter()
    log_errors = 0
    for line in tally.read_text().splitlines() if tally.exists() else []:
        label, value = json.loads(line)
        if label == "server log errors":
            log_errors += value
            continue
        statuses[value] += 1
        by_operation[label] += 1
    return statuses, by_operation, log_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    operations = operation_count()
    tally = Path(tempfile.mkdtemp(prefix="psc-mock-fuzz-")) / "tally.jsonl"
    started = time.monotonic()
    rounds, done, failures, run = 0, 0, [], None
    # Operations with few distinct inputs stop early: rounds go on, each with new random
    # inputs, until the requests sent reach the target.
    while done < args.requests and not failures:
        examples = -(-(args.requests - done) // operations)
        rounds += 1
        print(f"round {rounds}: {operations} operations x {examples} examples …", flush=True)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider", "-x"],
            cwd=ROOT,
            env={
                **os.environ,
                "PSC_MOCK_FUZZ_EXAMPLES": str(examples),
                "PSC_MOCK_FUZZ_RANDOM": "1",
                "PSC_MOCK_FUZZ_TALLY": str(tally),
            },
            capture_output=True,
            text=True,
        )
        failures = [line for line in run.stdout.splitlines() if "FAILED" in line]
        statuses, by_operation, log_errors = _read_tally(tally)
        done = sum(statuses.values())
    elapsed = time.monotonic() - started
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "requests": sum(statuses.values()),
        "seconds": round(elapsed),
        "operations": operations,
        "rounds": rounds,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "server_errors_5xx": sum(n for status, n in statuses.items() if status >= 500),
        "server_log_errors": log_errors,
        "failed_checks": failures,
        "pytest_exit_code": run.returncode,
        "requests_by_operation": dict(by_operation.most_common()),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"fuzz-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"{result['requests']} requests in {elapsed:.0f} s: statuses {result['statuses']}, "
        f"5xx {result['server_errors_5xx']}, server log errors {log_errors}, "
        f"failed checks {len(failures)} → {out}"
    )
    if run.returncode:
        print(run.stdout[-4000:])
    raise SystemExit(run.returncode)


if __name__ == "__main__":
    main()
