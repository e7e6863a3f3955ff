"""Bad configuration files and values: one SettingsError naming the file or the setting,
never a stack trace (review: each case below was one)."""

from __future__ import annotations

import os

import pytest

from idp.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("port = 8080\n".encode("utf-16"), "not UTF-8 (byte 1)"),
        ('host = "café"\n'.encode("latin-1"), "not UTF-8 (byte 12)"),
        (b'"psc-mock" = 3\n', "'psc-mock' must be a table of settings, not 3"),
        (b"port = 8080.9\n", "setting 'port': expected an integer, got 8080.9"),
        (b"port = true\n", "setting 'port': expected an integer, got True"),
        (b"port = 99999\n", "setting 'port': must be between 0 and 65535, not 99999"),
    ],
)
def test_a_bad_configuration_file_is_one_clear_error(content, says, tmp_path):
    path = tmp_path / "psc-mock.toml"
    path.write_bytes(content)
    with pytest.raises(SettingsError) as raised:
        Settings.load(config_file=path, environ={})
    assert str(raised.value).startswith(f"{path}: ") and says in str(raised.value)


def test_a_folder_given_as_configuration_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="cannot read the configuration file"):
        Settings.load(config_file=tmp_path, environ={})


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_configuration_file_is_named(tmp_path):
    path = tmp_path / "psc-mock.toml"
    path.write_text("port = 1\n")
    path.chmod(0)
    with pytest.raises(SettingsError, match="accès refusé"):
        Settings.load(config_file=path, environ={})


def test_a_bom_is_accepted(tmp_path):
    path = tmp_path / "psc-mock.toml"
    path.write_bytes(b"\xef\xbb\xbf[psc-mock]\nport = 9000\n")
    assert Settings.load(config_file=path, environ={}).port == 9000


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PSC_MOCK_PORT", "99999"), ("PSC_MOCK_PORT", "-5"), ("PSC_MOCK_TLS_PORT", "99999")],
)
def test_ports_out_of_range_are_refused_by_name(variable, value):
    with pytest.raises(SettingsError) as raised:
        Settings.load(environ={variable: value})
    name = variable.removeprefix("PSC_MOCK_").lower()
    assert f"setting '{name}': must be between" in str(raised.value)


def test_the_port_ranges_keep_their_special_values():
    settings = Settings.load(environ={"PSC_MOCK_PORT": "0", "PSC_MOCK_TLS_PORT": "-1"})
    assert (settings.port, settings.tls_port) == (0, -1)
