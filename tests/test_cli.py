"""The operator commands, run as real processes against the simulator: exit codes and plain-words output."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.gateway import RouteClass, Simulator
from bot.paths import database_problem
from tests.helpers import PNG_1PX, assert_playable, engine_env, free_port, run_bot, start_bot


@pytest.mark.parametrize(
    "extra",
    [
        ["--model", "veo-3.1-fast-generate-preview"],
        [
            "--model",
            "veo-3.1-fast-generate-preview",
            "--image",
            "ref.png",
            "--orientation",
            "portrait",
            "--duration",
            "8",
        ],
        ["--model", "veo3.1-fast-components", "--image", "https://example.com/1.png", "--image", "https://e.x/2.png"],
    ],
    ids=["openai", "openai-image", "unified-images"],
)
async def test_generate_writes_a_playable_mp4(sim: Simulator, tmp_path: Path, extra: list[str]) -> None:
    (tmp_path / "ref.png").write_bytes(PNG_1PX)
    ran = await run_bot(tmp_path, engine_env(sim, tmp_path), "generate", "a red fox", *extra, "--out", "fox.mp4")

    assert ran.code == 0, ran
    assert "Saved fox.mp4" in ran.out
    assert_playable(tmp_path / "fox.mp4")


async def test_generate_without_a_model_uses_the_first_one_the_gateway_serves(sim: Simulator, tmp_path: Path) -> None:
    sim.serve_models(("doubao-seedance-1-0-pro-250528", "kling-v2-1"))  # no Sora, no Veo
    ran = await run_bot(tmp_path, engine_env(sim, tmp_path), "generate", "a red fox", "--out", "fox.mp4")

    assert ran.code == 0, ran
    assert_playable(tmp_path / "fox.mp4")
    assert [task.model for task in sim.tasks] == ["kling-v2-1"]  # the first of them in the catalog's order


async def test_generate_exit_codes(sim: Simulator, tmp_path: Path) -> None:
    env = engine_env(sim, tmp_path)
    failed = await run_bot(
        tmp_path, env, "generate", "please FAIL", "--model", "veo-3.1-fast-generate-preview", "--out", "x.mp4"
    )
    bad_duration = await run_bot(
        tmp_path, env, "generate", "x", "--model", "veo-3.1-fast-generate-preview", "--duration", "5", "--out", "x.mp4"
    )
    file_for_url_model = await run_bot(
        tmp_path, env, "generate", "x", "--model", "veo3.1-fast", "--image", "missing.png", "--out", "x.mp4"
    )
    unreachable = await run_bot(
        tmp_path,
        {**env, "GATEWAY_BASE_URL": f"http://127.0.0.1:{free_port()}"},
        "generate",
        "x",
        "--out",
        "x.mp4",
    )
    bad_key = await run_bot(tmp_path, {**env, "GATEWAY_API_KEY": "sk-not-the-key"}, "generate", "x", "--out", "x.mp4")

    assert (failed.code, bad_duration.code, unreachable.code, bad_key.code) == (1, 2, 3, 2)
    assert "failed" in failed.out and "could not make this video" in failed.out
    assert "4, 6, 8 seconds, not 5" in bad_duration.out
    assert file_for_url_model.code == 2
    assert "Traceback" not in failed.err + bad_duration.err + unreachable.err + bad_key.err
    assert "sk-not-the-key" not in bad_key.out + bad_key.err
    assert not (tmp_path / "x.mp4").exists()


async def test_missing_configuration_is_listed_in_one_message(tmp_path: Path) -> None:
    ran = await run_bot(tmp_path, {"POLL_INTERVAL_MIN_SECONDS": "soon"}, "generate", "x", "--out", "x.mp4")

    assert ran.code == 2
    for name in ("GATEWAY_BASE_URL", "GATEWAY_API_KEY", "POLL_INTERVAL_MIN_SECONDS"):
        assert name in ran.err
    assert "DISCORD_TOKEN" not in ran.err  # generate needs no Discord token
    assert "Traceback" not in ran.err


async def test_run_without_configuration_says_what_is_missing(tmp_path: Path) -> None:
    ran = await run_bot(tmp_path, {}, "run")
    assert ran.code == 2
    for name in ("DISCORD_TOKEN", "GATEWAY_BASE_URL", "GATEWAY_API_KEY"):
        assert name in ran.err


async def test_dotenv_in_the_working_directory_is_read(sim: Simulator, tmp_path: Path) -> None:
    env = engine_env(sim, tmp_path)
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    ran = await run_bot(tmp_path, {}, "check")
    assert ran.code == 0, ran


async def test_check_reports_the_gateway_and_the_models(sim: Simulator, tmp_path: Path) -> None:
    ok = await run_bot(tmp_path, engine_env(sim, tmp_path), "check")
    wrong_key = await run_bot(tmp_path, engine_env(sim, tmp_path, GATEWAY_API_KEY="sk-nope-nope"), "check")
    wrong_base = await run_bot(tmp_path, engine_env(sim, tmp_path, GATEWAY_BASE_URL=sim.base_url + "/panel"), "check")
    down = await run_bot(
        tmp_path, engine_env(sim, tmp_path, GATEWAY_BASE_URL=f"http://127.0.0.1:{free_port()}"), "check"
    )

    assert ok.code == 0, ok
    assert "model veo-3.1-fast-generate-preview (openai format): served (the default)" in ok.out
    assert "model sora-2 (openai format): retired on 2026-09-24" in ok.out
    assert "database" in ok.out and "writable" in ok.out
    assert wrong_key.code == 2 and "rejected GATEWAY_API_KEY" in wrong_key.out
    assert wrong_base.code == 2 and "web page instead of the API" in wrong_base.out  # a configuration mistake
    assert down.code == 3 and "cannot reach the gateway" in down.out


def sent_nothing(sim: Simulator) -> bool:
    """Whether the simulator has seen no request at all."""
    return not sim.stats.requests


@pytest.mark.parametrize(
    ("command", "overrides", "setting"),
    [
        (["generate", "x", "--out", "."], {}, "--out ."),
        (["generate", "x", "--out", "file.mp4"], {"RESULTS_DIR": "afile/results"}, "RESULTS_DIR afile/results"),
        (["check"], {"RESULTS_DIR": "afile/results"}, "RESULTS_DIR afile/results"),
        (["check"], {"RESULTS_DIR": "afile"}, "RESULTS_DIR afile: is a file"),
        (["generate", "x", "--out", "x.mp4"], {"DATABASE_PATH": "afile/db.sqlite3"}, "DATABASE_PATH afile/db.sqlite3"),
        (["check"], {"DATABASE_PATH": "afile/db.sqlite3"}, "afile is a file"),
        (["check"], {"DATABASE_PATH": "."}, "DATABASE_PATH .: is a directory"),
        (["generate", "x", "--out", "x.mp4"], {"DATABASE_PATH": "afile"}, "is not an SQLite database"),
        (["run"], {"DATABASE_PATH": "afile/db.sqlite3", "DISCORD_TOKEN": "x" * 60}, "DATABASE_PATH afile/db.sqlite3"),
    ],
    ids=[
        "out-dir",
        "results-under-file",
        "check-results",
        "results-is-file",
        "db-under-file",
        "check-db",
        "db-is-dir",
        "db-not-sqlite",
        "run-db",
    ],
)
async def test_path_mistakes_stop_before_any_gateway_call(
    sim: Simulator, tmp_path: Path, command: list[str], overrides: dict[str, str], setting: str
) -> None:
    (tmp_path / "afile").write_text("not a directory, not a database")
    ran = await run_bot(tmp_path, engine_env(sim, tmp_path, **overrides), *command)

    assert ran.code == 2, ran
    assert setting in ran.out + ran.err
    assert "Traceback" not in ran.err and "FileExistsError" not in ran.err
    assert sent_nothing(sim)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user may enter (pytest's own temp directories are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="reelbot-volume-"))
    path.chmod(0o755)
    yield path
    path.chmod(0o700)
    for child in sorted(path.rglob("*"), reverse=True):
        child.chmod(0o700)
        child.rmdir() if child.is_dir() else child.unlink()
    path.rmdir()


def _problem_as(uid: int, path: Path, answer: multiprocessing.Queue[str | None]) -> None:
    os.setuid(uid)
    answer.put(database_problem(path))


def test_a_volume_this_user_cannot_write_names_the_user_and_the_owner(shared_dir: Path) -> None:
    volume = shared_dir / "data"
    volume.mkdir(mode=0o755)
    if os.geteuid() == 0:
        # As the image's user would see a volume created by root: in a child that takes uid 10001.
        context = multiprocessing.get_context("fork")
        answer: multiprocessing.Queue[str | None] = context.Queue()
        child = context.Process(target=_problem_as, args=(10001, volume / "reelbot.sqlite3", answer))
        child.start()
        problem = answer.get(timeout=30)
        child.join(timeout=30)
        expected = "is not writable by this user (uid 10001); it is owned by uid 0. Chown it (`chown -R 10001"
    else:
        volume.chmod(0o555)
        problem = database_problem(volume / "reelbot.sqlite3")
        expected = f"is not writable by this user (uid {os.geteuid()}), its owner"
    assert problem is not None
    assert problem.startswith(f"DATABASE_PATH {volume / 'reelbot.sqlite3'}: the directory {volume} ")
    assert expected in problem


async def test_check_says_which_gateway_mistake_it_is(sim: Simulator, tmp_path: Path) -> None:
    port = free_port()
    refused = await run_bot(tmp_path, engine_env(sim, tmp_path, GATEWAY_BASE_URL=f"http://127.0.0.1:{port}"), "check")
    page = await run_bot(tmp_path, engine_env(sim, tmp_path, GATEWAY_BASE_URL=sim.base_url + "/panel"), "check")
    prefix = await run_bot(tmp_path, engine_env(sim, tmp_path, GATEWAY_BASE_URL=sim.base_url + "/api"), "check")

    assert refused.code == 3 and f"connection refused at 127.0.0.1:{port}" in refused.out
    assert page.code == 2 and f"{sim.base_url}/panel answered with a web page instead of the API" in page.out
    assert prefix.code == 2 and 'answered "Invalid URL"' in prefix.out and f"try {sim.base_url}" in prefix.out
    for ran in (refused, page, prefix):
        assert "unavailable right now" not in ran.out + ran.err
        assert "Traceback" not in ran.err


async def test_generate_says_which_gateway_mistake_it_is_and_sends_nothing(sim: Simulator, tmp_path: Path) -> None:
    port = free_port()
    generate = ("generate", "a fox", "--out", "fox.mp4")
    refused = await run_bot(tmp_path, engine_env(sim, tmp_path, GATEWAY_BASE_URL=f"http://127.0.0.1:{port}"), *generate)
    page = await run_bot(tmp_path, engine_env(sim, tmp_path, GATEWAY_BASE_URL=sim.base_url + "/panel"), *generate)
    prefix = await run_bot(tmp_path, engine_env(sim, tmp_path, GATEWAY_BASE_URL=sim.base_url + "/api"), *generate)

    assert (refused.code, page.code, prefix.code) == (3, 2, 2)
    assert f"Nothing was sent: connection refused at 127.0.0.1:{port}" in refused.out
    assert "web page instead of the API" in page.out
    assert '"Invalid URL"' in prefix.out
    assert sim.stats.route_classes[RouteClass.CREATE] == 0
    assert not (tmp_path / "fox.mp4").exists()


async def test_retry_warnings_stay_out_of_the_progress_unless_verbose(sim: Simulator, tmp_path: Path) -> None:
    env = engine_env(sim, tmp_path)
    sim.faults.server_error("poll", count=2)
    quiet = await run_bot(tmp_path, env, "generate", "a fox", "--out", "quiet.mp4")
    sim.faults.server_error("poll", count=2)
    verbose = await run_bot(tmp_path, env, "generate", "-v", "a fox", "--out", "loud.mp4")  # -v after the command

    assert quiet.code == 0 and verbose.code == 0, (quiet, verbose)
    assert "WARNING" not in quiet.err and "retry" not in quiet.err
    assert "WARNING" in verbose.err and "retry" in verbose.err


async def test_a_job_that_sees_only_errors_gives_up_at_the_timeout(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.server_error("poll", count=None)
    ran = await run_bot(tmp_path, engine_env(sim, tmp_path), "generate", "a fox", "--timeout", "0.05", "--out", "x.mp4")

    assert ran.code == 1, ran
    assert "was given up after 0.05 minutes (--timeout): no poll of it was answered" in ran.out
    assert "refunds it if the task fails there" in ran.out
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.sim(task_seconds=4)
@pytest.mark.parametrize(
    ("signum", "code", "name", "next_run"),
    [
        (signal.SIGINT, 130, "Ctrl-C", ["--resume"]),
        (signal.SIGTERM, 143, "SIGTERM", ["another fox", "--out", "second.mp4"]),
    ],
    ids=["ctrl-c-then-resume", "sigterm-then-generate"],
)
async def test_a_stopped_generate_leaves_the_job_to_the_next_run(
    sim: Simulator, tmp_path: Path, signum: int, code: int, name: str, next_run: list[str]
) -> None:
    env = engine_env(sim, tmp_path)
    proc = await start_bot(tmp_path, env, "generate", "a fox", "--out", "fox.mp4")
    assert proc.stdout is not None
    accepted = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    assert b"accepted by the gateway" in accepted
    job_id = accepted.split()[1].decode()
    proc.send_signal(signum)
    rest, err = await asyncio.wait_for(proc.communicate(), timeout=60)

    assert proc.returncode == code, err
    assert f"Stopped ({name}). Job {job_id} keeps running on the gateway" in rest.decode()
    assert "--resume" in rest.decode()
    assert "Traceback" not in err.decode()
    assert err.decode().endswith("\n")  # the progress ends its line

    following = await run_bot(tmp_path, env, "generate", *next_run)
    assert following.code == 0, following
    assert f"Job {job_id} from an earlier run finished: its video is at" in following.out
    assert_playable(tmp_path / "results" / f"{job_id}.mp4")
    assert len(sim.tasks) == (1 if next_run == ["--resume"] else 2)  # resuming sends nothing new


@pytest.mark.parametrize(
    ("command", "password"),
    [(["check"], "Pw-0451-secret"), (["run"], "Pw-0451-secret"), (["worker"], "Pw%2F0451%40secret%3Ax%25y")],
)
async def test_a_postgresql_server_that_cannot_be_reached_is_said_plainly(
    sim: Simulator, tmp_path: Path, command: list[str], password: str
) -> None:
    url = f"postgresql://reelbot:{password}@127.0.0.1:{free_port()}/reelbot"  # nothing listens there
    env = engine_env(sim, tmp_path, DATABASE_URL=url, DISCORD_TOKEN="x" * 60, LOG_LEVEL="DEBUG")
    ran = await run_bot(tmp_path, env, *command)

    assert ran.code == 3, ran
    assert "Cannot connect to the PostgreSQL database at postgresql://reelbot:***@127.0.0.1:" in ran.out + ran.err
    assert "check DATABASE_URL" in ran.out + ran.err
    assert "0451" not in ran.out + ran.err  # neither as written nor decoded (Pw/0451@secret:x%y)
    assert "Traceback" not in ran.err


@pytest.mark.parametrize("password", ["Pw/0451-secret", "Pw@0451-secret"])
async def test_a_database_password_that_would_be_misread_stops_the_start_unshown(
    sim: Simulator, tmp_path: Path, password: str
) -> None:
    url = f"postgresql://reelbot:{password}@127.0.0.1:{free_port()}/reelbot"
    ran = await run_bot(tmp_path, engine_env(sim, tmp_path, DATABASE_URL=url, DISCORD_TOKEN="x" * 60), "run")
    assert ran.code == 2, ran
    assert "DATABASE_URL" in ran.err and "percent-encoded" in ran.err
    assert "0451" not in ran.out + ran.err
