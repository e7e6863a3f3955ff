"""The pytest plugin (loaded through its entry point) as a user's suite sees it: import-light, and a
``psc_mock`` fixture that runs the mock in-process or points at an external one."""

from __future__ import annotations

pytest_plugins = ["pytester"]


def test_plugin_loads_without_importing_the_server(pytester):
    pytester.makepyfile(
        """
        import sys

        def test_light():
            assert "flask" not in sys.modules
            assert "authlib" not in sys.modules
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_psc_mock_fixture_serves_psc_discovery(pytester):
    pytester.makepyfile(
        """
        import requests

        def test_discovery(psc_mock):
            doc = requests.get(psc_mock.discovery_url, timeout=5).json()
            assert doc["issuer"] == psc_mock.issuer
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_external_instance_by_url(pytester, base_url):
    pytester.makepyfile(
        f"""
        def test_external(psc_mock):
            assert psc_mock.url == "{base_url}"
        """
    )
    result = pytester.runpytest_subprocess(f"--psc-mock-url={base_url}")
    result.assert_outcomes(passed=1)


def test_login_scenario_requests_and_reset_between_tests(pytester):
    pytester.makepyfile(
        """
        import base64, json
        import pytest

        def claims(jwt):
            payload = jwt.split(".")[1]
            return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

        def test_login_any_identity(psc_mock):
            token = psc_mock.login("899700100029")  # manual: auto for the login only
            assert claims(token["access_token"])["SubjectNameID"] == "899700100029"
            assert psc_mock.control.call("GET", "/scenarios") == {}
            entry = psc_mock.requests.list(endpoint="token")[0]
            assert entry["client_id"] == "psc-mock-ci"
            assert entry["params"]["code"] == "***"

        def test_scenario_context_manager(psc_mock):
            with psc_mock.scenario("899700100011", claims={"drop": ["acr"]}):
                assert "acr" not in claims(psc_mock.login("899700100011")["access_token"])
            assert claims(psc_mock.login("899700100011")["access_token"])["acr"] == "eidas1"

        def test_leaves_a_fault_behind(psc_mock):
            psc_mock.control.fault("token", status=503)
            psc_mock.control.advance("1h")

        def test_is_reset(psc_mock):
            assert psc_mock.control.call("GET", "/faults") == {}
            assert abs(psc_mock.control.clock()["offset"]) < 5
            assert [e["endpoint"] for e in psc_mock.requests.list()] == []
            with psc_mock.fault("token", status=503, error="temporarily_unavailable"):
                with pytest.raises(Exception, match="503"):
                    psc_mock.login("899700100011")
            psc_mock.login("899700100011")
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_plugin_against_an_external_instance_resets_it(pytester, start_server):
    base_url = start_server().settings.effective_public_url
    pytester.makepyfile(
        """
        def test_external(psc_mock):
            assert psc_mock.requests.list() == []
            token = psc_mock.login("899700100011")
            assert token["token_type"] == "Bearer"
        """
    )
    result = pytester.runpytest_subprocess(f"--psc-mock-url={base_url}")
    result.assert_outcomes(passed=1)


def test_issue_token_tamper_and_ciba_helpers(pytester):
    pytester.makepyfile(
        """
        import base64, json, time
        import pytest

        def claims(jwt):
            payload = jwt.split(".")[1]
            return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

        def test_issue_token(psc_mock):
            token = psc_mock.issue_token("899700100029", acr="eidas3", drop=["otherIds"])
            access = claims(token["access_token"])
            assert access["acr"] == "eidas3" and "otherIds" not in access

        def test_tamper(psc_mock):
            with psc_mock.tamper("expired", times=1):
                access = claims(psc_mock.login("899700100011")["access_token"])
                assert access["exp"] <= time.time()
            assert psc_mock.control.call("GET", "/tampering") is None

        def test_card_login(psc_mock):
            access = claims(psc_mock.login("899700100029", means="CARD")["access_token"])
            assert access["authMode"] == "CARD" and access["SubjectNameID"] == "899700100029"
            with pytest.raises(Exception, match="no active card"):
                psc_mock.login("899700100094", means="CARD")  # no card at all

        def test_ciba(psc_mock):
            token = psc_mock.ciba("899700100011")
            assert claims(token["access_token"])["SubjectNameID"] == "899700100011"
            with psc_mock.scenario("899700100011", policy="deny"):
                with pytest.raises(Exception, match="access_denied"):
                    psc_mock.ciba("899700100011")
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)
