"""What the benchmark scripts share: a free port, a server spawned and awaited, the
machine a result was measured on. (They run as ``python bench/<script>.py``, so this
module is importable as ``common``.)"""

from __future__ import annotations

import compileall
import os
import platform
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil
import requests


def compile_psc_mock() -> None:
    """psc-mock's modules compiled to bytecode, as pip does when it installs a package
    (and the Docker image): this machine sets PYTHONDONTWRITEBYTECODE=1, so a checkout's
    modules were compiled again at every start (about 60 ms of a 0.5 s spawn → ready,
    which the peers, installed by pip and npm, do not pay)."""
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "idp", quiet=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn_ready(
    command: list[str], ready_url: str, timeout: float = 30
) -> tuple[subprocess.Popen, float]:
    """Start ``command`` and poll ``ready_url``: the process and the seconds until its
    first 200 (spawn → ready, the interpreter's own start included)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.perf_counter() - started < timeout:
        try:
            if requests.get(ready_url, timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except requests.ConnectionError:
            time.sleep(0.005)
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"{command[0]} did not become ready at {ready_url}")


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        found = re.search(r"model name\s*:\s*(.*)", info.read_text())
        cpu = found.group(1) if found else cpu
    node = shutil.which("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True) if node else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "node": version.stdout.strip() if version else "",
        "load_before": round(os.getloadavg()[0], 2),
    }
