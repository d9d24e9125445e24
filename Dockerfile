# Hub as a container image.
#
#   docker build -t hub .
#   docker run -d -p 5000:5000 -v /opt/data/hub:/var/lib/hub hub
#
# The default command runs all of Hub on the embedded default (SQLite, files,
# a broker that needs no server); `docker run hub web|worker|builds|beat|migrate`
# runs one part, configured by the HUB_ variables (README, Production).

ARG DEBIAN=debian:bookworm-slim

# --- The front-end packages (package-lock.json), from npm.
FROM ${DEBIAN} AS assets
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# --- The Python packages (requirements.txt) in a virtual environment, and
# the collected static files.
FROM ${DEBIAN} AS python
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt
WORKDIR /app
COPY . .
COPY --from=assets /src/node_modules/htmx.org/dist node_modules/htmx.org/dist
RUN HUB_DATA_DIR=/tmp/collect HUB_SECRET_KEY=collectstatic HUB_STATIC_ROOT=/app/static \
    /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0 \
    && /opt/venv/bin/python -m compileall -q /app \
    && rm -rf /tmp/collect

# --- What runs: Python, the program, and what builds need (git to clone;
# buildah and runc to build). No compilers, no npm.
FROM ${DEBIAN}
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates python3 tini git buildah runc uidmap \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 hub \
    && useradd --system --uid 10001 --gid hub --home-dir /var/lib/hub --shell /usr/sbin/nologin hub \
    # Subordinate ids, for builds that run buildah as this user.
    && echo "hub:100000:65536" > /etc/subuid && echo "hub:100000:65536" > /etc/subgid \
    && mkdir -p /var/lib/hub && chown hub:hub /var/lib/hub
COPY --from=python /opt/venv /opt/venv
COPY --from=python /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HUB_DATA_DIR=/var/lib/hub \
    HUB_ADDR=0.0.0.0:5000 \
    HUB_DEMO=false \
    HUB_STATIC_ROOT=/app/static \
    HUB_COLLECT_STATIC=false \
    HUB_WEB_GRACEFUL_TIMEOUT=6
WORKDIR /app
VOLUME /var/lib/hub
EXPOSE 5000
# Answers when the web server does (the roles without one: while they run).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "/app/hub/healthcheck.py"]
# tini reaps what builds leave behind and passes SIGTERM on; `docker stop`
# waits 10 s, and Hub stops within HUB_WEB_GRACEFUL_TIMEOUT and 3 s more.
ENTRYPOINT ["tini", "--", "/app/hub/entrypoint.sh"]
CMD ["all"]
