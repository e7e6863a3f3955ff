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
