# Build stage: install the locked dependencies (checked by hash), then the project, into a virtual environment.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-cache-dir --no-deps .

# Runtime stage: only the virtual environment, run as an unprivileged user (uid and gid 10001), data on a volume.
FROM python:3.11-slim
RUN groupadd --gid 10001 reelbot \
    && useradd --create-home --uid 10001 --gid 10001 reelbot \
    && mkdir -p /data \
    && chown reelbot:reelbot /data
COPY --from=build /opt/venv /opt/venv
# Inside a container the servers listen on every interface; which of them reach the host is `docker run -p`'s choice.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_PATH=/data/reelbot.sqlite3 \
    RESULTS_DIR=/data/results \
    MEDIA_LISTEN=0.0.0.0:8080 \
    METRICS_LISTEN=0.0.0.0:9100
EXPOSE 8080 9100
USER reelbot
WORKDIR /home/reelbot
VOLUME ["/data"]
# /healthz on METRICS_LISTEN's port: 200 when healthy, 503 (an error here) otherwise. The slim image has no curl.
# The bot answers within 10 s (its own check timeout), so the probe's 12 s and Docker's 15 s leave it room.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ['METRICS_LISTEN'].rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=12)"]
ENTRYPOINT ["python", "-m", "bot"]
