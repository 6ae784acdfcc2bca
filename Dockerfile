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

# Runtime stage: only the virtual environment, run as an unprivileged user, data on a volume.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 reelbot && mkdir -p /data && chown reelbot /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_PATH=/data/reelbot.sqlite3 \
    RESULTS_DIR=/data/results
USER reelbot
WORKDIR /home/reelbot
VOLUME ["/data"]
ENTRYPOINT ["python", "-m", "bot"]
