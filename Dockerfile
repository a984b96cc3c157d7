# The whole logger in one container, for a Linux PC with Docker (as the keilog + Telegraf
# logger ran).
# Build and run it with compose.yaml (docker compose up -d --build); see README.md.
FROM python:3.11-slim

# uv from PyPI installs exactly what uv.lock says.
ARG UV_VERSION=0.13.9
# The container's user; match your own (id -u / id -g) so ./logs on the host is yours.
ARG SMARTMETER_UID=1000
ARG SMARTMETER_GID=1000

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && groupadd --gid "${SMARTMETER_GID}" smartmeter \
 && useradd --uid "${SMARTMETER_UID}" --gid smartmeter --groups dialout \
        --home-dir /app --no-create-home --shell /usr/sbin/nologin smartmeter

WORKDIR /app
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1

# Dependencies first (this layer changes only with uv.lock), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY common ./common
COPY services ./services
COPY config ./config
COPY supervisord.conf ./
COPY deploy/docker/entrypoint.py ./deploy/docker/entrypoint.py
RUN uv sync --frozen --no-dev

# The optional keilog driver (dongle.driver: keilog): a checkout made by scripts/get-keilog
# next to the project is taken into the image; without one, nothing happens.  (RUN --mount
# needs BuildKit: Docker's default builder since 23.0, and what docker compose uses.)
RUN --mount=type=bind,source=.,target=/context \
    if [ -f /context/keilog/keilib/broute.py ]; then cp -r /context/keilog /app/keilog; fi

# Where things live in the container (common/paths.py):
#   /app/config      the checkout's config/, mounted read-only (compose.yaml)
#   /app/logs        the daily CSV files (csv.directory: logs), mounted from ./logs
#   /var/lib/smartmeter  the InfluxDB queue, cursors and service logs: a volume
#   /run/smartmeter  sockets, the journal, the settings the entrypoint writes: a tmpfs
RUN install -d -o smartmeter -g smartmeter -m 0750 \
        /app/logs /var/lib/smartmeter /var/lib/smartmeter/state /var/lib/smartmeter/log \
 && install -d -m 1777 /run/smartmeter
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SMARTMETER_HOME=/app \
    SMARTMETER_CONFIG=/run/smartmeter/settings.yml \
    SMARTMETER_RUNTIME_DIR=/run/smartmeter/stack \
    SMARTMETER_DATA_DIR=/var/lib/smartmeter/state \
    SMARTMETER_LOG_DIR=/var/lib/smartmeter/log

USER smartmeter
EXPOSE 8780
# 200 for pass and warn (starting, scanning ...), 503 for fail: unhealthy says "look at
# smartmeterctl status".  Scanning for the meter can take minutes, hence the start period.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8780/health', timeout=8)"]
ENTRYPOINT ["python", "/app/deploy/docker/entrypoint.py"]
CMD ["smartmeterctl", "supervise"]
