# syntax=docker/dockerfile:1
# One image for every configtrail service: `docker run IMAGE serve ingest|sync|metrics|gateway`, `migrate`.
# Health probes need no extra binaries: docker-compose.yml calls grpc.health.v1 (grpcio-health-checking,
# installed with the project) and the gateway's /healthz from `python -c`.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# .dockerignore lets only pyproject.toml, constraints.txt, README.md and the three packages into the context
COPY . .
RUN python -m venv /opt/configtrail \
    && /opt/configtrail/bin/pip install --upgrade pip \
    && /opt/configtrail/bin/pip install -c constraints.txt .

FROM python:3.11-slim
ENV PATH=/opt/configtrail/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONFIGTRAIL_LOG_JSON=true
RUN groupadd --system --gid 10001 configtrail \
    && useradd --system --uid 10001 --gid configtrail --create-home --home-dir /home/configtrail \
        --shell /usr/sbin/nologin configtrail
COPY --from=build /opt/configtrail /opt/configtrail
USER configtrail:configtrail
WORKDIR /home/configtrail
ENTRYPOINT ["configtrail"]
CMD ["--help"]
