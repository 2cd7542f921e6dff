# syntax=docker/dockerfile:1
# Bosun: a small, hardened image serving the reference server (examples/notes).
# Reuse it for your own server: COPY your module in a stage FROM this image and change CMD
# (see docs/deployment.md).
ARG BASE_IMAGE=python:3.11.11-slim-bookworm

# checkov:skip=CKV_DOCKER_7: the base is the BASE_IMAGE argument, pinned above to an exact version
FROM ${BASE_IMAGE} AS builder
# pip trusts the system CA bundle (a build host behind a TLS-inspecting proxy mounts its own over it).
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
# binutils (strip) exists only in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils=2.40* \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements/runtime.lock requirements/runtime.lock
RUN python3 -m venv /opt/bosun \
    && /opt/bosun/bin/pip install --no-compile -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY src ./src
# Byte-code compiled here, once: the runtime's root filesystem is read-only. pip and setuptools
# are not needed at run time, nor are the dependencies' own test suites and type stubs; native
# extensions lose their debug symbols.
RUN /opt/bosun/bin/pip install --no-compile --no-deps . \
    && /opt/bosun/bin/pip uninstall -y -q pip setuptools \
    && find /opt/bosun/lib -path '*/site-packages/*' -type d -name tests -prune -exec rm -rf {} + \
    && find /opt/bosun/lib -path '*/site-packages/*' -name '*.pyi' -type f -delete \
    && find /opt/bosun -name '*.so*' -type f -exec strip --strip-unneeded {} + \
    && /opt/bosun/bin/python -m compileall -q /opt/bosun/lib

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="bosun" \
      org.opencontainers.image.description="A production runtime for MCP servers, serving the notes reference server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="bosun"
# tini is PID 1: it forwards SIGTERM to the server (which then drains) and reaps stray children.
# ca-certificates: outbound TLS must work; `bosun check` below fails the build if the store is empty.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.* ca-certificates=20230311* \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 10001 bosun \
    && useradd --system --uid 10001 --gid bosun --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin bosun
COPY --from=builder /opt/bosun /opt/bosun
COPY --chown=root:root examples/notes /app/examples/notes
ENV PATH=/opt/bosun/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOSUN_HOST=0.0.0.0 \
    BOSUN_PORT=8000 \
    BOSUN_LOG_FORMAT=json \
    BOSUN_DATA_DIR=/tmp/data \
    BOSUN_MIGRATE_ON_START=true
WORKDIR /app
# The build checks what the image owns (the trust store); authentication is the deployment's to configure.
RUN BOSUN_HOST=127.0.0.1 bosun check
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["bosun", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "bosun"]
CMD ["serve", "examples/notes/server.py"]
