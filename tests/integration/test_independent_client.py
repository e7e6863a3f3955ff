"""An independent, strict relying party: panva's certified ``openid-client`` (Node),
run against the live mock. It checks what a lenient client would let pass: the
discovery issuer, ``iss`` in the authorization response, nonce, at_hash, userinfo's sub."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.fixture_people import auto_medecin

RP_NODE = Path(__file__).resolve().parents[1] / "rp-node"


def test_openid_client_completes_code_flow_pkce_userinfo_refresh(base_url):
    assert (RP_NODE / "node_modules" / "openid-client").is_dir(), (
        "run the README's test command: it installs tests/rp-node with npm ci"
    )
    id_nat = auto_medecin().id_nat
    result = subprocess.run(
        ["node", "code_flow.mjs", base_url, id_nat],
        cwd=RP_NODE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["claims"]["SubjectNameID"] == id_nat
    assert outcome["userinfo"]["SubjectNameID"] == id_nat
    assert outcome["userinfo"]["SubjectRefPro"]["exercices"]
    assert outcome["refreshed"] == {"expires_in": 120, "sub": outcome["claims"]["sub"]}
