"""Acknowledgement latency of the real bot process under 50 simultaneous /video create commands.

Latency is measured by the fake Discord: from the moment it wrote INTERACTION_CREATE to the bot's websocket
to the moment the bot's defer callback arrived. The bot's peak RSS is read from /proc (VmHWM) at the end.

    python -m bench.ack [--invocations 50] [--runs 5] [--command create|help]

`--command help` measures /video help, which answers at once with no work of Reelbot's behind it: the
difference between the two is what Reelbot's own code adds to the acknowledgement.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from bench.common import milliseconds, percentile
from bot.devtools.gateway import Simulator, SimulatorConfig
from tests.botproc import BotProcess, bot_env
from tests.fakediscord import FakeDiscord

# One member fires the whole burst, worth more than a server's daily pool (50 x 12 credits): lift the member's and
# the server's limits so every command runs its whole flow.
NO_QUOTA_LIMITS = {
    "QUOTA_USER_DAILY_CREDITS": "0",
    "QUOTA_GUILD_DAILY_CREDITS": "0",
    "QUOTA_GUILD_MONTHLY_CREDITS": "0",
    "MAX_JOBS_PER_USER": "0",
    "MAX_JOBS_PER_GUILD": "0",
}
WAIT = 180.0  # Discord lets 5 status messages a channel through every 5 s: 50 take most of a minute


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def options_for(command: str, number: int) -> dict[str, object]:
    """The options of one invocation."""
    return {"prompt": f"bench {number}", "model": "veo-3.1-fast-generate-preview"} if command == "create" else {}


async def bot_ready(fake: FakeDiscord) -> None:
    """Wait until the bot has synced its commands and connected to the fake Discord."""
    await fake.wait_for_request("PUT", "*/guilds/*/commands", timeout=WAIT)
    await fake.wait_connected(timeout=WAIT)


async def one_run(invocations: int, command: str, workdir: Path) -> tuple[list[float], float]:
    """Start a bot, fire ``invocations`` commands at once, return their ack latencies (ms) and the bot's RSS."""
    config = SimulatorConfig(tick_seconds=0, task_seconds=1.0, media_dir=str(workdir / "media"))
    async with Simulator(config) as sim, FakeDiscord() as fake:
        env = bot_env(
            fake,
            sim,
            workdir,
            LOG_LEVEL="WARNING",
            POLL_INTERVAL_MIN_SECONDS="1",
            POLL_INTERVAL_MAX_SECONDS="2",
            **NO_QUOTA_LIMITS,
        )
        async with BotProcess(env, workdir) as bot:
            await bot_ready(fake)
            channel = fake.channel().id
            records = await asyncio.gather(
                *(
                    fake.invoke_slash(channel_id=channel, subcommand=command, options=options_for(command, n))
                    for n in range(invocations)
                )
            )
            # One waiter for the whole burst: the fake wakes every waiter on every change, and 50 of them would
            # load the fake's own event loop (and so delay the timestamps it takes) far more than the bot's work.
            await fake.state.changed.wait_for(lambda: all(r.responses for r in records) or None, WAIT, "the acks")
            firsts = [record.responses[0] for record in records]
            # Let the jobs run to the end, so the RSS covers a full burst, not just the acknowledgements.
            if command == "create":
                await fake.wait_for_request("POST", "/channels/*/messages", timeout=WAIT, count=2 * invocations)
            assert bot.proc is not None
            rss = peak_rss_mib(bot.proc.pid)
    return [milliseconds(call.latency) for call in firsts], rss


async def main(invocations: int, runs: int, command: str) -> None:
    """Run the benchmark and print a summary."""
    p50s, p99s, rsses = [], [], []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            latencies, rss = await one_run(invocations, command, Path(tmp))
        p50, p99 = statistics.median(latencies), percentile(latencies, 99)
        p50s.append(p50)
        p99s.append(p99)
        rsses.append(rss)
        print(
            f"run {run + 1}: ack p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(latencies):6.1f} ms  "
            f"bot peak RSS {rss:.0f} MiB"
        )
    print(
        f"median of {runs} runs, {invocations} x /video {command} at once: ack p50 {statistics.median(p50s):.1f} ms, "
        f"p99 {statistics.median(p99s):.1f} ms, bot peak RSS {statistics.median(rsses):.0f} MiB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--command", choices=("create", "help"), default="create")
    options = parser.parse_args()
    asyncio.run(main(options.invocations, options.runs, options.command))
