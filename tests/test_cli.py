"""The operator commands, run as real processes against the simulator: exit codes and plain-words output."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator
from tests.helpers import PNG_1PX, assert_playable, engine_env, free_port, run_bot


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
    assert wrong_base.code == 3 and "web page" in wrong_base.out
    assert down.code == 3 and "cannot reach the gateway" in down.out
