"""The media server over real HTTP: signed links, expiry, ranges, traversal, the public URL's path prefix."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
import pytest
from yarl import URL

from bot.media.server import (
    MediaLinks,
    create_media_app,
    load_signing_key,
    parse_listen,
    select_range,
    serve,
    sign,
)

SECRET = b"test-secret-0123456789abcdef"
PUBLIC = "https://bot.example.com/media"
JOB = "abc23xyz"
DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable enough
SIZE = len(DATA)
POSTER = b"\xff\xd8\xff\xe0 not really a jpeg"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    origin: str
    links: MediaLinks
    clock: Clock
    results: Path
    http: aiohttp.ClientSession
    taken_down: set[str]

    def path_of(self, link: str) -> str:
        """The link's path and query, as a proxy that keeps the prefix forwards it."""
        parts = urlsplit(link)
        return f"{parts.path}?{parts.query}"

    async def get(self, link: str, *, method: str = "GET", strip: str = "", **headers: str) -> aiohttp.ClientResponse:
        path = self.path_of(link).removeprefix(strip)
        async with self.http.request(method, URL(self.origin + path, encoded=True), headers=headers) as resp:
            await resp.read()
            return resp


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    results = tmp_path / "results"
    results.mkdir()
    (results / f"{JOB}.mp4").write_bytes(DATA)
    (results / f"{JOB}.fit.mp4").write_bytes(DATA[:1000])
    (results / f"{JOB}.poster.jpg").write_bytes(POSTER)
    (tmp_path / "secret.txt").write_text("do not serve")
    clock = Clock()
    links = MediaLinks(PUBLIC, SECRET, clock)
    taken_down: set[str] = set()

    async def is_taken_down(job_id: str) -> bool:
        return job_id in taken_down

    runner = await serve(
        create_media_app(results, links, is_taken_down), "127.0.0.1:0", header_timeout_seconds=15, max_connections=256
    )
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            yield Site(f"http://{host}:{port}", links, clock, results, http, taken_down)
    finally:
        await runner.cleanup()


def video_link(site: Site, name: str = f"{JOB}.mp4", ttl: float = 3600) -> str:
    return site.links.link(JOB, site.results / name, ttl)


async def test_a_valid_link_serves_the_whole_video(site: Site) -> None:
    link = video_link(site)
    assert link.startswith(f"{PUBLIC}/v/{JOB}/{JOB}.mp4?e=")
    async with site.http.get(URL(site.origin + site.path_of(link), encoded=True)) as resp:
        body = await resp.read()
        assert resp.status == 200
        assert body == DATA
        assert resp.headers["Content-Type"] == "video/mp4"
        assert resp.headers["Content-Length"] == str(SIZE)
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert resp.headers["Cache-Control"] == "private, max-age=3600"
        assert "ETag" in resp.headers
        assert "Last-Modified" in resp.headers


@pytest.mark.parametrize(
    ("name", "content_type", "content"),
    [(f"{JOB}.fit.mp4", "video/mp4", DATA[:1000]), (f"{JOB}.poster.jpg", "image/jpeg", POSTER)],
)
async def test_sidecars_are_served_with_their_types(site: Site, name: str, content_type: str, content: bytes) -> None:
    async with site.http.get(URL(site.origin + site.path_of(video_link(site, name)), encoded=True)) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == content_type
        assert await resp.read() == content


async def test_head_sends_headers_without_a_body(site: Site) -> None:
    resp = await site.get(video_link(site), method="HEAD")
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(SIZE)
    assert resp.headers["Content-Type"] == "video/mp4"
    assert resp.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, SIZE),
        ("bytes=-500", SIZE - 500, SIZE),
        ("bytes=10000-99999", 10000, SIZE),
        ("bytes=-99999", 0, SIZE),
        ("bytes=10239-10239", SIZE - 1, SIZE),
        ("BYTES=5-5", 5, 6),
    ],
)
async def test_single_ranges_get_206(site: Site, header: str, start: int, stop: int) -> None:
    async with site.http.get(
        URL(site.origin + site.path_of(video_link(site)), encoded=True), headers={"Range": header}
    ) as resp:
        assert resp.status == 206
        assert await resp.read() == DATA[start:stop]
        assert resp.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}"
        assert resp.headers["Content-Length"] == str(stop - start)
        assert resp.headers["Content-Type"] == "video/mp4"


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
async def test_unsatisfiable_ranges_get_416(site: Site, header: str) -> None:
    resp = await site.get(video_link(site), Range=header)
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=5-2", "bytes=-", "nonsense"])
async def test_malformed_or_multiple_ranges_get_the_whole_file(site: Site, header: str) -> None:
    async with site.http.get(
        URL(site.origin + site.path_of(video_link(site)), encoded=True), headers={"Range": header}
    ) as resp:
        assert resp.status == 200
        assert await resp.read() == DATA


async def test_if_range_applies_the_range_only_while_the_file_is_unchanged(site: Site) -> None:
    link = video_link(site)
    etag = (await site.get(link, method="HEAD")).headers["ETag"]
    assert (await site.get(link, Range="bytes=0-9", **{"If-Range": etag})).status == 206
    assert (await site.get(link, Range="bytes=0-9", **{"If-Range": '"stale"'})).status == 200
    mtime = (site.results / f"{JOB}.mp4").stat().st_mtime
    assert (await site.get(link, Range="bytes=0-9", **{"If-Range": formatdate(mtime, usegmt=True)})).status == 206
    assert (await site.get(link, Range="bytes=0-9", **{"If-Range": formatdate(mtime - 60, usegmt=True)})).status == 200


async def test_if_none_match_gets_304(site: Site) -> None:
    link = video_link(site)
    etag = (await site.get(link, method="HEAD")).headers["ETag"]
    assert (await site.get(link, **{"If-None-Match": etag})).status == 304


async def test_range_on_head_is_ignored(site: Site) -> None:
    resp = await site.get(video_link(site), method="HEAD", Range="bytes=0-9")
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(SIZE)


def _tamper(link: str, key: str, value: str | None) -> str:
    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if value is None:
        del query[key]
    else:
        query[key] = value
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


async def test_a_bad_or_missing_signature_gets_403(site: Site) -> None:
    link = video_link(site)
    sig = parse_qs(urlsplit(link).query)["s"][0]
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    expiry = parse_qs(urlsplit(link).query)["e"][0]
    for bad in (
        _tamper(link, "s", flipped),
        _tamper(link, "s", None),
        _tamper(link, "e", None),
        _tamper(link, "e", str(int(expiry) + 3600)),  # stretching the expiry breaks the signature
        _tamper(link, "e", "soon"),
        _tamper(link, "s", "%C3%A9"),
        link.replace(f"{JOB}.mp4?", f"{JOB}.fit.mp4?"),  # a signature covers one file only
    ):
        assert (await site.get(bad)).status == 403, bad
    other = MediaLinks(PUBLIC, b"another-secret-0123456789", site.clock)
    assert (await site.get(other.link(JOB, site.results / f"{JOB}.mp4", 60))).status == 403


async def test_an_expired_link_gets_410(site: Site) -> None:
    link = video_link(site, ttl=60)
    site.clock.now += 59
    ok = await site.get(link)
    assert ok.status == 200
    assert ok.headers["Cache-Control"] == "private, max-age=1"
    site.clock.now += 1
    assert (await site.get(link)).status == 410


@pytest.mark.parametrize("name", [f"{JOB}.mp4", f"{JOB}.fit.mp4", f"{JOB}.poster.jpg"])
async def test_a_video_taken_down_gets_410_even_with_its_files_still_there(site: Site, name: str) -> None:
    link = video_link(site, name)
    site.taken_down.add(JOB)
    gone = await site.get(link)
    assert gone.status == 410
    assert (await site.get(link.replace("&s=", "&s=x"))).status == 403  # a bad signature learns nothing


async def test_a_deleted_file_gets_404(site: Site) -> None:
    link = video_link(site)
    (site.results / f"{JOB}.mp4").unlink()
    assert (await site.get(link)).status == 404


@pytest.mark.parametrize(
    ("job_id", "filename"),
    [
        (JOB, "..%2F..%2Fsecret.txt"),
        (JOB, "..%2Fsecret.txt"),
        ("..", "secret.txt"),
        ("%2E%2E", "secret.txt"),
        (JOB, f"{JOB}.mp4%00"),
        (JOB, f"..%2Fresults%2F{JOB}.mp4"),
        ("otherjob", f"{JOB}.mp4"),  # a job may only fetch its own files
        (JOB, f"{JOB}.txt"),
    ],
)
async def test_traversal_and_foreign_names_are_refused(site: Site, job_id: str, filename: str) -> None:
    # Signed with the real secret for the decoded names, so only the name checks stand in the way.
    expires = int(site.clock.now) + 60
    signature = sign(SECRET, unquote(job_id), unquote(filename), expires)
    path = f"/v/{job_id}/{filename}?e={expires}&s={signature}"
    async with site.http.get(URL(site.origin + path, encoded=True)) as resp:
        assert resp.status == 404
        assert await resp.read() != b"do not serve"


async def test_plain_dot_segments_never_reach_the_handler(site: Site) -> None:
    async with site.http.get(URL(site.origin + "/v/../../secret.txt", encoded=True)) as resp:
        assert resp.status == 404


async def test_symlinks_out_of_the_results_directory_are_not_followed(site: Site, tmp_path: Path) -> None:
    (site.results / f"{JOB}.mp4").unlink()
    (site.results / f"{JOB}.mp4").symlink_to(tmp_path / "secret.txt")
    assert (await site.get(video_link(site))).status == 404


async def test_a_directory_with_a_result_name_is_not_served(site: Site) -> None:
    (site.results / f"{JOB}.poster.jpg").unlink()
    (site.results / f"{JOB}.poster.jpg").mkdir()
    assert (await site.get(video_link(site, f"{JOB}.poster.jpg"))).status == 404


async def test_links_work_whether_the_proxy_keeps_or_strips_the_prefix(site: Site) -> None:
    link = video_link(site)
    assert urlsplit(link).path == f"/media/v/{JOB}/{JOB}.mp4"
    assert (await site.get(link)).status == 200
    assert (await site.get(link, strip="/media")).status == 200
    wrong = link.replace("/media/", "/other/")
    assert (await site.get(wrong)).status == 404


def test_the_public_url_may_end_with_a_slash_or_have_no_path() -> None:
    clock = Clock()
    with_slash = MediaLinks(PUBLIC + "/", SECRET, clock).link(JOB, Path(f"{JOB}.mp4"), 60)
    assert with_slash.startswith(f"{PUBLIC}/v/{JOB}/")
    bare = MediaLinks("http://127.0.0.1:8080", SECRET, clock)
    assert bare.prefix == ""
    assert bare.link(JOB, Path(f"{JOB}.mp4"), 60).startswith(f"http://127.0.0.1:8080/v/{JOB}/{JOB}.mp4?e=")


@pytest.mark.parametrize(
    "url", ["ftp://x.example/", "bot.example.com/media", "https://x.example/m?a=1", "https://x.example/{m}"]
)
def test_bad_public_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="public URL"):
        MediaLinks(url, SECRET)


def test_short_secrets_and_foreign_names_are_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        MediaLinks(PUBLIC, "short")
    links = MediaLinks(PUBLIC, SECRET, Clock())
    for name in ("../x.mp4", "other.mp4", f"{JOB}.mkv"):
        with pytest.raises(ValueError, match="owns"):
            links.link(JOB, Path(name), 60)
    with pytest.raises(ValueError, match="ttl"):
        links.link(JOB, Path(f"{JOB}.mp4"), 0)


def test_signatures_depend_on_every_part() -> None:
    base = sign(SECRET, JOB, f"{JOB}.mp4", 100)
    assert base == sign(SECRET, JOB, f"{JOB}.mp4", 100)
    others = {
        sign(SECRET, JOB, f"{JOB}.mp4", 101),
        sign(SECRET, JOB, f"{JOB}.fit.mp4", 100),
        sign(SECRET, "abc23xyy", f"{JOB}.mp4", 100),
        sign(b"x" + SECRET, JOB, f"{JOB}.mp4", 100),
    }
    assert base not in others
    assert len(others) == 4
    assert "=" not in base and "+" not in base and "/" not in base


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("GET", None, None), (200, 0, 10)),
        (("GET", "bytes=2-4", None), (206, 2, 5)),
        (("GET", "bytes=0-0", None), (206, 0, 1)),
        (("GET", " bytes=8- ", None), (206, 8, 10)),
        (("GET", "bytes=-3", None), (206, 7, 10)),
        (("GET", "bytes=10-", None), (416, 0, 0)),
        (("GET", "bytes=-0", None), (416, 0, 0)),
        (("GET", "bytes=1-2, 4-5", None), (200, 0, 10)),
        (("GET", "bytes=2-4", '"tag"'), (206, 2, 5)),
        (("GET", "bytes=2-4", 'W/"tag"'), (200, 0, 10)),
        (("GET", "bytes=2-4", "not a date"), (200, 0, 10)),
        (("HEAD", "bytes=2-4", None), (200, 0, 10)),
        (("GET", "bytes=0-" + "9" * 40, None), (200, 0, 10)),
    ],
)
def test_select_range(args: tuple[str, str | None, str | None], expected: tuple[int, int, int]) -> None:
    assert select_range(*args, size=10, etag='"tag"', mtime=0.0) == expected


def test_select_range_on_an_empty_file() -> None:
    assert select_range("GET", "bytes=0-", None, 0, '"t"', 0.0) == (416, 0, 0)
    assert select_range("GET", "bytes=-5", None, 0, '"t"', 0.0) == (416, 0, 0)
    assert select_range("GET", None, None, 0, '"t"', 0.0) == (200, 0, 0)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), (":9000", (None, 9000)), ("[::1]:0", ("::1", 0))],
)
def test_parse_listen(listen: str, expected: tuple[str | None, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["8080", "host:", "host:http", "host:70000", ""])
def test_parse_listen_refuses_nonsense(listen: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_listen(listen)


def test_the_configured_signing_key_wins(tmp_path: Path) -> None:
    assert load_signing_key("  configured-key-0123456789  ", tmp_path / "key") == b"configured-key-0123456789"
    assert not (tmp_path / "key").exists()


def test_a_signing_key_is_made_once_and_kept(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "media-signing.key"
    first = load_signing_key("", key_file)
    assert len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_signing_key("", key_file) == first
    assert os.listdir(key_file.parent) == [key_file.name]


def test_a_truncated_key_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("short\n")
    with pytest.raises(ValueError, match="shorter"):
        load_signing_key("", tmp_path / "key")
