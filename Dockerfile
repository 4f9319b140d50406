# syntax=docker/dockerfile:1
# The briefing service in a container: `docker build -t briefing .`, then see compose.yaml.
# Secrets (TELEGRAM_BOT_TOKEN, OPENAI_API_KEY, the database password) are given at run time
# (`docker run -e`, compose's environment, an orchestrator's secrets), never baked in here:
# ENV and ARG values stay readable in the image and its history.

# --- stage 1: wheels of the project and of every dependency -------------------------------
FROM python:3.11-slim AS builder

# Compilers for a dependency without a wheel for this platform; this stage is thrown away.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# What the wheel is built from, nothing else (.dockerignore keeps out the rest anyway).
COPY pyproject.toml README.md ./
COPY briefing ./briefing
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

# --- stage 2: the runtime, wheels installed, no compilers ---------------------------------
FROM python:3.11-slim

# Logs reach `docker logs` as they are written; no .pyc files in a read-only layer.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheels are mounted for this one step rather than copied, so they add no layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels 'briefing[postgres]'

# A fixed uid, so that volumes and host directories can be given to it ahead of time.
RUN groupadd --system --gid 10001 briefing \
    && useradd --system --uid 10001 --gid briefing --home-dir /data --shell /usr/sbin/nologin briefing \
    && mkdir -p /data \
    && chown briefing:briefing /data

# The store's directory (the SQLite file when no BRIEFING_DB_URL is set, the deliveries file
# without a bot); a named volume mounted here starts with this owner.
WORKDIR /data
ENV BRIEFING_DATA_DIR=/data
VOLUME ["/data"]

USER briefing

EXPOSE 8080
# The port must match CMD's --http; urlopen raises (exit 1) on a refused connection, a
# timeout or an HTTP error status.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

# Exec form: briefing is PID 1 and receives SIGTERM itself, so `docker stop` ends it cleanly.
ENTRYPOINT ["briefing"]
CMD ["--log-format", "json", "run", "--http", "0.0.0.0:8080"]
