"""Settings: defaults < TOML file < PSC_MOCK_* environment < CLI flags; clear errors."""

from __future__ import annotations

import re

import pytest

from idp.settings import Settings, SettingsError


def test_layers_override_in_order(tmp_path):
    config = tmp_path / "psc-mock.toml"
    config.write_text('port = 9000\nstrict = false\nclaim_profile = "psc-2026"\nhost = "0.0.0.0"\n')
    settings = Settings.load(
        config_file=config,
        environ={"PSC_MOCK_PORT": "9100", "PSC_MOCK_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2"},
        overrides={"port": "9200", "host": None},
    )
    assert settings.port == 9200  # CLI beats environment beats file
    assert settings.strict is False and settings.claim_profile == "psc-2026"  # from the file
    assert settings.host == "0.0.0.0"  # an unset CLI flag changes nothing
    assert settings.trusted_proxies == ["10.0.0.1", "10.0.0.2"]


def test_defaults_are_psc_values():
    settings = Settings.load(environ={})
    assert settings.access_token_lifetime == 120 and settings.id_token_lifetime == 120
    assert settings.refresh_token_lifetime == 1800 and settings.session_max == 4 * 3600
    assert settings.strict is True and settings.claim_profile == "psc-2023"
    assert settings.issuer == "http://localhost:8080/auth/realms/esante-wallet"


def test_toml_section_is_accepted(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[psc-mock]\npublic_url = "https://psc.example/"\n')
    settings = Settings.load(config_file=config, environ={})
    assert settings.issuer == "https://psc.example/auth/realms/esante-wallet"
    assert settings.effective_backchannel_url == "https://psc.example"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"PSC_MOCK_PORT": "http"},
            "environment (PSC_MOCK_*): setting 'port': expected an integer",
        ),
        ({"PSC_MOCK_STRICT": "maybe"}, "setting 'strict': expected true or false"),
        ({"PSC_MOCK_CLAIM_PROFILE": "psc-2019"}, "must be one of psc-2023, psc-2026"),
        (
            {"PSC_MOCK_TRUSTED_PROXIES": "10.0.0.1, proxy.local"},
            "setting 'trusted_proxies': 'proxy.local' is not an IP address or network",
        ),
    ],
)
def test_bad_environment_values_name_their_source(environ, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.load(environ=environ)


def test_bad_config_files(tmp_path):
    with pytest.raises(SettingsError, match="not found"):
        Settings.load(config_file=tmp_path / "missing.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1")
    with pytest.raises(SettingsError, match=re.escape("broken.toml: not valid TOML")):
        Settings.load(config_file=broken, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'")
    with pytest.raises(SettingsError, match=re.escape("unknown.toml: unknown setting 'colour'")):
        Settings.load(config_file=unknown, environ={})


def test_markdown_table_documents_every_setting():
    table = Settings.markdown_table()
    for name in ("--public-url", "PSC_MOCK_BACKCHANNEL_URL", "--strict", "--claim-profile"):
        assert name in table
