"""Settings.from_env: defaults, validation, every problem reported at once, secrets kept out of text."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from dotenv import dotenv_values

from bot.errors import ConfigError
from bot.settings import ProcessRole, Settings
from bot.settings.docs import env_example, with_table

REPO = Path(__file__).resolve().parents[1]

DISCORD_SECRET = "discord-token-ZX81spectrum-9f3c7a"
GATEWAY_SECRET = "sk-gatewaykey-QWERTY-55aa77cc"


def valid_env(**overrides: str) -> dict[str, str]:
    """The smallest environment that loads, with distinctive secrets."""
    env = {
        "GATEWAY_BASE_URL": "https://gateway.example.com",
        "GATEWAY_API_KEY": GATEWAY_SECRET,
        "DISCORD_TOKEN": DISCORD_SECRET,
    }
    env.update(overrides)
    return env


def config_problems(env: dict[str, str], *, need_discord: bool = True) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, need_discord=need_discord)
    return str(caught.value)


def test_defaults() -> None:
    s = Settings.from_env(valid_env())
    assert s.gateway_base_url == "https://gateway.example.com"
    assert s.gateway_api_key == GATEWAY_SECRET
    assert s.discord_token == DISCORD_SECRET
    assert s.database_path == Path("data/reelbot.sqlite3")
    assert s.results_dir == Path("data/results")
    assert s.models_file is None
    assert s.log_level == "INFO"
    assert s.log_level_number == logging.INFO
    assert s.poll_interval_min_seconds == 5.0
    assert s.poll_interval_max_seconds == 30.0
    assert s.gateway_refresh_seconds == 15.0
    assert s.job_notice_minutes == 30.0
    assert s.job_timeout_minutes == 1440.0
    assert s.poll_concurrency == 16


def test_values_are_read_and_trimmed() -> None:
    s = Settings.from_env(
        valid_env(
            GATEWAY_BASE_URL=" https://gw.example.com/ ",
            DATABASE_PATH="/var/lib/reelbot/db.sqlite3",
            MODELS_FILE="/etc/reelbot/models.toml",
            LOG_LEVEL="debug",
            POLL_INTERVAL_MIN_SECONDS="2.5",
            POLL_INTERVAL_MAX_SECONDS="12",
            POLL_CONCURRENCY="4",
        )
    )
    assert s.gateway_base_url == "https://gw.example.com"
    assert s.database_path == Path("/var/lib/reelbot/db.sqlite3")
    assert s.models_file == Path("/etc/reelbot/models.toml")
    assert s.log_level == "DEBUG"
    assert s.log_level_number == logging.DEBUG
    assert (s.poll_interval_min_seconds, s.poll_interval_max_seconds) == (2.5, 12.0)
    assert s.poll_concurrency == 4


def test_fractional_timeout_minutes_are_allowed() -> None:
    s = Settings.from_env(valid_env(JOB_TIMEOUT_MINUTES="0.05", JOB_NOTICE_MINUTES="0.01"))
    assert s.job_timeout_minutes == pytest.approx(0.05)
    assert s.job_notice_minutes == pytest.approx(0.01)


def test_timeout_below_the_notice_is_refused() -> None:
    text = config_problems(valid_env(JOB_TIMEOUT_MINUTES="0.05"))
    assert "JOB_NOTICE_MINUTES" in text
    assert "JOB_TIMEOUT_MINUTES" in text


@pytest.mark.parametrize(
    ("count", "ids", "shards", "holds_zero"),
    [("", "", None, True), ("4", "", None, True), ("4", "0,1", [0, 1], True), ("4", "1-3", [1, 2, 3], False)],
)
def test_shard_settings_name_the_shards_this_process_connects(
    count: str, ids: str, shards: list[int] | None, holds_zero: bool
) -> None:
    s = Settings.from_env(valid_env(DISCORD_SHARD_COUNT=count, DISCORD_SHARD_IDS=ids))
    assert s.discord_shard_count == (int(count) if count else None)
    assert s.shard_ids == shards and s.holds_shard_zero is holds_zero


def test_a_process_knows_which_servers_its_shards_hold() -> None:
    shard_zero_of_two = Settings.from_env(valid_env(DISCORD_SHARD_COUNT="2", DISCORD_SHARD_IDS="0"))
    on_shard_one = 1 << 22  # (id >> 22) % 2 == 1
    assert shard_zero_of_two.connects_shard_of(2 << 22)
    assert not shard_zero_of_two.connects_shard_of(on_shard_one)
    assert Settings.from_env(valid_env()).connects_shard_of(on_shard_one)  # one process, every shard


def test_shard_ids_and_ranges_combine_sorted_and_once() -> None:
    s = Settings.from_env(valid_env(DISCORD_SHARD_COUNT="8", DISCORD_SHARD_IDS=" 5, 0-2,1 ,7-7"))
    assert s.shard_ids == [0, 1, 2, 5, 7]


@pytest.mark.parametrize(
    ("count", "ids", "says"),
    [
        ("", "0,1", "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"),
        ("2", "1-2", "DISCORD_SHARD_IDS names shards that DISCORD_SHARD_COUNT=2 does not have (2)"),
        ("2", "3-1", "DISCORD_SHARD_IDS has a range that runs backwards: '3-1'"),
        ("2", "one", "DISCORD_SHARD_IDS must be shard ids or ranges separated by commas, such as 0,1 or 0-3"),
        ("2", "-1", "DISCORD_SHARD_IDS must be shard ids or ranges"),
        ("0", "", "DISCORD_SHARD_COUNT must be at least 1"),
    ],
)
def test_wrong_shard_settings_are_named_in_one_line(count: str, ids: str, says: str) -> None:
    text = config_problems(valid_env(DISCORD_SHARD_COUNT=count, DISCORD_SHARD_IDS=ids))
    problems = text.splitlines()[1:]
    assert len(problems) == 1 and says in problems[0]


def test_every_problem_is_reported_in_one_error() -> None:
    env = {
        "DISCORD_TOKEN": DISCORD_SECRET,
        "POLL_INTERVAL_MIN_SECONDS": "fast",
        "POLL_CONCURRENCY": "2.5",
        "LOG_LEVEL": "LOUD",
    }
    text = config_problems(env)
    assert "GATEWAY_BASE_URL is not set" in text
    assert "GATEWAY_API_KEY is not set" in text
    assert "POLL_INTERVAL_MIN_SECONDS must be a number" in text
    assert "POLL_CONCURRENCY must be a whole number" in text
    assert "LOG_LEVEL must be one of" in text
    assert "'LOUD'" in text


def test_missing_discord_token_is_reported_when_needed() -> None:
    env = valid_env()
    del env["DISCORD_TOKEN"]
    assert "DISCORD_TOKEN is not set" in config_problems(env)


def test_discord_token_is_optional_without_discord() -> None:
    env = valid_env()
    del env["DISCORD_TOKEN"]
    s = Settings.from_env(env, need_discord=False)
    assert s.discord_token == ""


def test_process_role_is_all_unless_set_and_names_the_choices_when_wrong() -> None:
    assert Settings.from_env(valid_env()).process_role is ProcessRole.ALL
    assert Settings.from_env(valid_env(PROCESS_ROLE=" Worker ")).process_role is ProcessRole.WORKER
    text = config_problems(valid_env(PROCESS_ROLE="delivery"))
    assert "PROCESS_ROLE must be one of all, front, worker, got 'delivery'" in text


def test_blank_values_count_as_missing() -> None:
    text = config_problems(valid_env(GATEWAY_API_KEY="   "))
    assert "GATEWAY_API_KEY is not set" in text


@pytest.mark.parametrize(
    "url",
    ["https://gateway.example.com/v1", "https://gateway.example.com/v1/", "https://gateway.example.com/api/v1"],
)
def test_base_url_with_v1_is_refused(url: str) -> None:
    text = config_problems(valid_env(GATEWAY_BASE_URL=url))
    assert "GATEWAY_BASE_URL" in text
    assert "/v1" in text


@pytest.mark.parametrize(
    "url",
    ["gateway.example.com", "ftp://gateway.example.com", "https://", "https://gw.example.com/?x=1", "http://gw#top"],
)
def test_base_url_must_be_a_plain_http_url(url: str) -> None:
    assert "GATEWAY_BASE_URL" in config_problems(valid_env(GATEWAY_BASE_URL=url))


def test_base_url_may_have_a_path_prefix() -> None:
    s = Settings.from_env(valid_env(GATEWAY_BASE_URL="http://127.0.0.1:3000/proxy/"))
    assert s.gateway_base_url == "http://127.0.0.1:3000/proxy"


def test_min_interval_above_max_is_refused() -> None:
    text = config_problems(valid_env(POLL_INTERVAL_MIN_SECONDS="40", POLL_INTERVAL_MAX_SECONDS="30"))
    assert "POLL_INTERVAL_MIN_SECONDS must not be larger than POLL_INTERVAL_MAX_SECONDS" in text


def test_equal_min_and_max_intervals_are_fine() -> None:
    s = Settings.from_env(valid_env(POLL_INTERVAL_MIN_SECONDS="10", POLL_INTERVAL_MAX_SECONDS="10"))
    assert s.poll_interval_min_seconds == s.poll_interval_max_seconds == 10.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POLL_INTERVAL_MIN_SECONDS", "0"),
        ("POLL_INTERVAL_MAX_SECONDS", "-1"),
        ("JOB_TIMEOUT_MINUTES", "0.001"),
        ("POLL_CONCURRENCY", "0"),
        ("GATEWAY_REFRESH_SECONDS", "-15"),
    ],
)
def test_numbers_below_their_minimum_are_refused(name: str, value: str) -> None:
    text = config_problems(valid_env(**{name: value}))
    assert f"{name} must be at least" in text


def test_refresh_period_zero_is_allowed() -> None:
    assert Settings.from_env(valid_env(GATEWAY_REFRESH_SECONDS="0")).gateway_refresh_seconds == 0.0


def test_not_a_number_is_refused() -> None:
    assert "POLL_INTERVAL_MAX_SECONDS" in config_problems(valid_env(POLL_INTERVAL_MAX_SECONDS="nan"))


def test_secrets_are_not_in_repr() -> None:
    s = Settings.from_env(valid_env())
    text = repr(s)
    assert DISCORD_SECRET not in text
    assert GATEWAY_SECRET not in text
    assert "gateway.example.com" in text


def test_secrets_are_not_in_the_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            valid_env(LOG_LEVEL="chatty", POLL_INTERVAL_MIN_SECONDS="soon", GATEWAY_BASE_URL="https://gw.example/v1")
        )
    for text in (str(caught.value), repr(caught.value), *map(str, caught.value.args)):
        assert DISCORD_SECRET not in text
        assert GATEWAY_SECRET not in text


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POLL_INTERVAL_MIN_SECONDS", "POLL_INTERVAL_MAX_SECONDS", "JOB_NOTICE_MINUTES", "JOB_TIMEOUT_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in valid_env(LOG_LEVEL="warning").items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env().log_level == "WARNING"


def test_result_limits_default_and_read() -> None:
    assert Settings.from_env(valid_env()).result_max_mb == 512
    assert Settings.from_env(valid_env()).result_url_allow == ()
    s = Settings.from_env(valid_env(RESULT_MAX_MB="64", RESULT_URL_ALLOW=" CDN.internal:9000, 10.0.0.7 ,[fd00::1]:80"))
    assert s.result_max_mb == 64
    assert s.result_url_allow == ("cdn.internal:9000", "10.0.0.7", "[fd00::1]:80")


@pytest.mark.parametrize("entry", ["http://cdn.internal", "cdn.internal/videos", "cdn:port", "user@cdn", ":80"])
def test_result_url_allow_takes_only_hosts(entry: str) -> None:
    assert "RESULT_URL_ALLOW must be a comma-separated list of host" in config_problems(
        valid_env(RESULT_URL_ALLOW=f"ok.example, {entry}")
    )


def test_result_max_mb_must_be_positive() -> None:
    assert "RESULT_MAX_MB must be at least 1" in config_problems(valid_env(RESULT_MAX_MB="0"))


def test_env_example_is_written_from_the_declarations() -> None:
    committed = (REPO / ".env.example").read_text()
    assert committed == env_example(), ".env.example differs from bot/settings: run `python -m bot.settings.docs`"


def test_readme_table_is_written_from_the_declarations() -> None:
    readme = (REPO / "README.md").read_text()
    assert with_table(readme) == readme, "README's settings table differs: run `python -m bot.settings.docs`"


def test_a_readme_without_the_table_markers_is_named() -> None:
    with pytest.raises(ValueError, match="around its settings table"):
        with_table("# Reelbot\n\n| setting | default | meaning |\n")


def example_lines() -> list[tuple[str, str]]:
    """Each NAME=value line of .env.example, commented out or not."""
    return [
        (m[1], m[2]) for line in env_example().splitlines() if (m := re.fullmatch(r"(?:# )?([A-Z0-9_]+)=(.*)", line))
    ]


def test_the_values_env_example_shows_are_the_defaults(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, value in example_lines()))
    shown = {name: value or "" for name, value in dotenv_values(tmp_path / ".env").items()}
    assert Settings.from_env({**shown, **valid_env()}) == Settings.from_env(valid_env())


def test_env_example_names_every_setting_once() -> None:
    names = [name for name, _ in example_lines()]
    assert sorted(names) == sorted(n.upper() for n in Settings.__dataclass_fields__)


DB_PASSWORD = "pg-pass-Hunter2-77b1"


def test_database_url_wins_over_the_path() -> None:
    url = f"postgresql://reelbot:{DB_PASSWORD}@db.internal:5432/reelbot"
    s = Settings.from_env(valid_env(DATABASE_URL=url, DATABASE_PATH="/var/lib/reelbot/db.sqlite3"))
    assert s.database_location == url
    assert DB_PASSWORD not in repr(s)
    assert Settings.from_env(valid_env()).database_location == Path("data/reelbot.sqlite3")


@pytest.mark.parametrize("password", ["pg/pass-Hunter2", "pg@pass-Hunter2", "pg%pass-Hunter2"])
def test_a_database_password_a_driver_would_misread_is_refused_without_echoing_it(password: str) -> None:
    problems = config_problems(valid_env(DATABASE_URL=f"postgresql://reelbot:{password}@db.internal/reelbot"))
    assert "DATABASE_URL" in problems and "%" in problems
    assert "Hunter2" not in problems


def test_the_database_password_is_a_secret_as_written_and_as_read() -> None:
    s = Settings.from_env(valid_env(DATABASE_URL="postgresql://reelbot:pg%2Fpass%40Hunter2@db.internal/reelbot"))
    assert {"pg%2Fpass%40Hunter2", "pg/pass@Hunter2", DISCORD_SECRET, GATEWAY_SECRET} <= set(s.secrets)


def test_a_database_url_that_is_not_postgresql_is_refused_without_echoing_it() -> None:
    problems = config_problems(valid_env(DATABASE_URL=f"mysql://reelbot:{DB_PASSWORD}@db.internal/reelbot"))
    assert "DATABASE_URL" in problems
    assert "postgresql://" in problems
    assert DB_PASSWORD not in problems
