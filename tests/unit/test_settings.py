from pathlib import Path

import pytest

from service.settings import SettingsError, load_settings, read_dotenv


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.queue_url is None
    assert settings.admin_issuer == "http://127.0.0.1:8080/realms/admin"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": "mysql://localhost/db"}, "DATABASE_URL"),
        ({"QUEUE_URL": "amqp://localhost"}, "QUEUE_URL"),
        ({"PAGE_SIZE_DEFAULT": "500"}, "PAGE_SIZE_DEFAULT"),
        ({"ROLE_PERMISSIONS": "{not json"}, "ROLE_PERMISSIONS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"WEBHOOK_MAX_BODY_BYTES": "-1"}, "WEBHOOK_MAX_BODY_BYTES"),
    ],
)
def test_a_bad_value_stops_with_the_variable_named(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ)
    assert str(refused.value).startswith(named)


def test_secrets_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "webhook-secret"
    secret.write_text("s3cr3t\n")
    settings = load_settings({"SUMSUB_WEBHOOK_SECRET_FILE": str(secret)})
    assert settings.sumsub_webhook_secret == "s3cr3t"


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SUMSUB_WEBHOOK_SECRET_FILE"):
        load_settings({"SUMSUB_WEBHOOK_SECRET_FILE": str(tmp_path / "missing")})


def test_dotenv_files_fill_in_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "stack.env"
    env_file.write_text('# the sandbox\nPORT=9001\nexport LOG_LEVEL="DEBUG"\nSUMSUB_URL=http://127.0.0.1:1/\n')
    assert read_dotenv(env_file)["LOG_LEVEL"] == "DEBUG"
    monkeypatch.setenv("ENV_FILE", str(env_file))
    monkeypatch.setenv("PORT", "9002")
    settings = load_settings()
    assert settings.port == 9002
    assert settings.log_level == "DEBUG"
    assert settings.sumsub_url == "http://127.0.0.1:1/"


def test_role_permissions_are_configurable_as_json() -> None:
    settings = load_settings({"ROLE_PERMISSIONS": '{"auditor": ["AUDIT_READ"]}'})
    assert settings.role_permissions == {"auditor": ["AUDIT_READ"]}


@pytest.mark.parametrize("value", ["panel, scripts", '["panel", "scripts"]'])
def test_operator_clients_are_a_comma_separated_or_json_list(value: str) -> None:
    settings = load_settings({"OPERATOR_CLIENT_IDS": value, "SERVICE_AUDIENCE": "onboarding-api"})
    assert settings.operator_client_ids == ["panel", "scripts"]
    assert settings.service_audience == "onboarding-api"


def test_token_binding_defaults_are_the_sandboxes_clients_and_no_audience() -> None:
    settings = load_settings({})
    assert (settings.operator_client_ids, settings.service_audience, settings.portal_client_id) == (
        ["onboarding-admin-panel"], None, "customer-portal")


@pytest.mark.parametrize("environ", [{"OPERATOR_CLIENT_IDS": ""}, {"OPERATOR_CLIENT_IDS": " , "},
                                     {"OPERATOR_CLIENT_IDS": '["panel", 3]'}, {"OPERATOR_CLIENT_IDS": "[oops"},
                                     {"SERVICE_AUDIENCE": " "}, {"PORTAL_CLIENT_ID": ""}])
def test_token_binding_settings_that_would_bind_nothing_stop_the_process(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ)
    assert str(refused.value).startswith(next(iter(environ)))
