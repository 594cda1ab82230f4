"""Settings (SPEC §2): prefix, .env, defaults, the generated secret key, one-line errors."""

from __future__ import annotations

import inspect
import stat
from pathlib import Path

import fastapi_poe as fp
import pytest

from service.settings import FASTAPI_POE_UPLOAD_BASE, SettingsError, load_settings


@pytest.fixture(autouse=True)
def in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("SCRIPTBOTS_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_defaults_follow_the_spec() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/scriptbots.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.base_url == "http://127.0.0.1:8000"
    assert str(settings.poe_api_base) == "https://api.poe.com/bot/"
    # SPEC §10: defaults closer to Poe's (issue 9).
    assert (settings.run_timeout_s, settings.run_cpu_s, settings.run_memory_mb) == (600, 30, 1024)
    assert settings.run_disk_mb == 256
    assert (settings.run_max_bot_calls, settings.run_max_output_chars) == (10, 100_000)
    assert settings.creator_max_concurrent_runs == 8
    assert settings.signup_allowed is True  # on loopback
    assert settings.fetch_allow_private is False


@pytest.mark.parametrize(
    ("variables", "allowed"),
    [
        ({}, True),
        ({"SCRIPTBOTS_PUBLIC_URL": "http://localhost:8000/"}, True),
        ({"SCRIPTBOTS_PUBLIC_URL": "http://[::1]:8000/"}, True),
        ({"SCRIPTBOTS_PUBLIC_URL": "https://bots.example.com/"}, False),
        ({"SCRIPTBOTS_HOST": "0.0.0.0"}, False),  # listening for others: not loopback
        ({"SCRIPTBOTS_PUBLIC_URL": "http://10.1.2.3/"}, False),
        (
            {"SCRIPTBOTS_PUBLIC_URL": "https://bots.example.com/", "SCRIPTBOTS_ALLOW_SIGNUP": "1"},
            True,
        ),
        ({"SCRIPTBOTS_ALLOW_SIGNUP": "false"}, False),
    ],
)
def test_signup_is_open_by_default_only_on_loopback(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], allowed: bool
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert load_settings().signup_allowed is allowed


def test_upload_base_default_is_fastapi_poes_own() -> None:
    default = inspect.signature(fp.client.upload_file).parameters["base_url"].default
    assert default == FASTAPI_POE_UPLOAD_BASE
    assert str(load_settings().poe_file_upload_base) == FASTAPI_POE_UPLOAD_BASE


def test_environment_variables_are_prefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPTBOTS_PORT", "9001")
    monkeypatch.setenv("SCRIPTBOTS_HOST", "0.0.0.0")
    monkeypatch.setenv("SCRIPTBOTS_RUN_TIMEOUT_S", "5")
    monkeypatch.setenv("SCRIPTBOTS_FETCH_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("PORT", "1")  # unprefixed: ignored
    settings = load_settings()
    assert settings.port == 9001
    assert settings.base_url == "http://0.0.0.0:9001"
    assert settings.run_timeout_s == 5
    assert settings.fetch_allow_private is True


def test_dotenv_file_is_read(in_empty_directory: Path) -> None:
    (in_empty_directory / ".env").write_text(
        "SCRIPTBOTS_PUBLIC_URL=https://bots.example.com/\nSCRIPTBOTS_ALLOW_SIGNUP=false\n"
    )
    settings = load_settings()
    assert settings.allow_signup is False and settings.signup_allowed is False
    assert settings.base_url == "https://bots.example.com"
    assert settings.bot_url("Echo") == "https://bots.example.com/bots/Echo"


def test_secret_key_is_generated_once_with_mode_0600(in_empty_directory: Path) -> None:
    first = load_settings().secret_key
    path = in_empty_directory / "var" / "secret.key"
    assert first is not None and len(first.get_secret_value()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_settings().secret_key
    assert second is not None and second.get_secret_value() == first.get_secret_value()
    assert path.read_text().strip() == first.get_secret_value()


def test_configured_secret_key_writes_no_file(
    in_empty_directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRIPTBOTS_SECRET_KEY", "a-configured-secret-key")
    settings = load_settings()
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "a-configured-secret-key"
    assert "a-configured" not in repr(settings)
    assert not (in_empty_directory / "var").exists()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCRIPTBOTS_PORT", "eighty"),
        ("SCRIPTBOTS_PORT", "70000"),
        ("SCRIPTBOTS_RUN_TIMEOUT_S", "0"),
        ("SCRIPTBOTS_RUN_MEMORY_MB", "-5"),
        ("SCRIPTBOTS_ALLOW_SIGNUP", "perhaps"),
        ("SCRIPTBOTS_PUBLIC_URL", "not a url"),
        ("SCRIPTBOTS_POE_API_BASE", "ftp://example.com/"),
        ("SCRIPTBOTS_DATABASE_URL", "no database here"),
        ("SCRIPTBOTS_SECRET_KEY", "short"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"bad setting {variable}: ")
    if variable == "SCRIPTBOTS_SECRET_KEY":
        assert value not in message  # secrets are never echoed


def test_unreadable_secret_key_file_is_a_clear_error(in_empty_directory: Path) -> None:
    (in_empty_directory / "var" / "secret.key").mkdir(parents=True)  # a directory, not a file
    with pytest.raises(SettingsError, match="SCRIPTBOTS_SECRET_KEY"):
        load_settings()
