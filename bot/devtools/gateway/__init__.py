"""A simulator of the video gateway (QuantumNous/new-api family) for tests, benchmarks and manual runs.

Run it with ``python -m bot.devtools.gateway --port 8787`` and set ``GATEWAY_BASE_URL=http://127.0.0.1:8787``
and ``GATEWAY_API_KEY=sk-sim``, or use it from Python::

    async with Simulator(SimulatorConfig(tick_seconds=0, task_seconds=0)) as sim:
        sim.faults.rate_limit("poll", count=2)
        ...  # point the client at sim.base_url

Gateway routes (Bearer auth, key with or without ``sk-``): ``POST /v1/videos``, ``GET /v1/videos/{id}``,
``GET /v1/videos/{id}/content``, ``POST /v1/video/create``, ``GET /v1/video/query?id=``, ``GET /v1/models``.
Unknown ``/v1`` or ``/api`` paths answer the gateway's 404; any other path answers the 200 HTML dashboard,
except two simulator-only prefixes:

* ``GET /files/{id}.mp4`` -- the unauthenticated "CDN" link the unified query returns as ``video_url``.
* ``/_sim/`` control endpoints (no auth): ``GET /_sim/stats`` (``?tasks=1`` adds per-task stats),
  ``POST /_sim/stats/reset``, ``GET /_sim/tasks``, ``GET /_sim/tasks/{id}``, ``POST /_sim/tasks/{id}/lose``,
  ``GET /_sim/faults``, ``POST /_sim/faults`` (a `FaultSpec` as JSON, e.g.
  ``{"kind": "rate_limit", "route": "poll", "count": 2}``, or a list of them; ``count`` defaults to 1 and
  ``null`` means until cleared), ``DELETE /_sim/faults`` and ``GET /_sim/config``.

Prompts containing ``FAIL`` end failed ("upstream error"), ``MODERATE`` fail at the first refresh with the
moderation text, and ``POLICY`` are refused at create (markers are `SimulatorConfig` fields; None disables).
Tasks change visible state only at simulated poller refreshes (see `tasks`); ``tick_seconds=0`` refreshes on
every read. The result video is a tiny H.264 MP4 generated once with the ffmpeg binary of imageio-ffmpeg and
cached in ``$TMPDIR/reelbot-gateway-sim`` (or ``SimulatorConfig.media_dir``).
"""

from bot.devtools.gateway.clock import ManualClock
from bot.devtools.gateway.config import DEFAULT_KEY, DEFAULT_MODELS, ProgressStyle, SimulatorConfig
from bot.devtools.gateway.injection import FaultKind, Faults, FaultSpec, RouteClass
from bot.devtools.gateway.server import Simulator
from bot.devtools.gateway.stats import Stats, TaskStats

__all__ = [
    "DEFAULT_KEY",
    "DEFAULT_MODELS",
    "FaultKind",
    "FaultSpec",
    "Faults",
    "ManualClock",
    "ProgressStyle",
    "RouteClass",
    "Simulator",
    "SimulatorConfig",
    "Stats",
    "TaskStats",
]
