"""A plain web server on 127.0.0.1 standing in for a host a result link may point at (a CDN, an internal service)."""

from __future__ import annotations

from collections import Counter
from types import TracebackType

from aiohttp import web


class FileHost:
    """Serves one video at /video.mp4, redirects /to?url=... with a 302, and counts the requests per path."""

    def __init__(self, video: bytes) -> None:
        self.video = video
        self.requests: Counter[str] = Counter()
        self.port = 0
        app = web.Application()
        app.router.add_get("/video.mp4", self._video)
        app.router.add_get("/to", self._redirect)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    def url(self, path: str = "/video.mp4", host: str = "127.0.0.1") -> str:
        """An absolute link to ``path`` on this server, by ``host`` (an address or a name such as localhost)."""
        return f"http://{host}:{self.port}{path}"

    async def _video(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        return web.Response(body=self.video, content_type="video/mp4")

    async def _redirect(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        raise web.HTTPFound(request.query["url"])

    async def __aenter__(self) -> FileHost:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._runner.cleanup()
