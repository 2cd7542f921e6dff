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
# binutils (strip) and zip exist only in this stage. tini's package file is fetched here (apt checks it
# against the signed index) so that the runtime stage installs it with dpkg alone: no apt run there,
# no package lists or debconf database rewritten into its layer.
WORKDIR /debs
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils=2.40* zip=3.0* \
    && chown _apt /debs && apt-get download tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements/runtime.lock requirements/runtime.lock
RUN python3 -m venv /opt/bosun \
    && /opt/bosun/bin/pip install --no-compile -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY src ./src
# pip and setuptools are not needed at run time.
RUN /opt/bosun/bin/pip install --no-compile --no-deps . \
    && /opt/bosun/bin/pip uninstall -y -q pip setuptools
# What the server never loads goes (docs/deployment.md, "Image size"): the dependencies' test suites,
# type stubs and C/Cython sources; SQLAlchemy's and Alembic's test harnesses and the dialects of databases
# no installed driver reaches (MySQL, Oracle, SQL Server); Alembic's `alembic init` templates; cffi's
# build-time half (cffi, pycparser: cryptography loads only the _cffi_backend extension, which stays).
# Native extensions lose their debug symbols.
# hadolint ignore=DL3003
RUN site_packages="$(/opt/bosun/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && cd "$site_packages" \
    && find . -type d -name tests -prune -exec rm -rf {} + \
    && find . -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \
         -o -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) -delete \
    && rm -rf sqlalchemy/testing sqlalchemy/dialects/mysql sqlalchemy/dialects/oracle sqlalchemy/dialects/mssql \
         alembic/testing alembic/templates cffi pycparser pycparser-*.dist-info /opt/bosun/bin/cffi-gen-src \
    && find sqlalchemy/dialects -name provision.py -delete \
    && find . -name '*.so*' -type f -exec strip --strip-unneeded {} +
# Byte-code compiled here, once: the runtime's root filesystem is read-only. Bosun keeps its sources
# (tracebacks show its lines); the dependencies keep byte-code only, and those that are pure Python
# (no extension module, no data file) go into one compressed archive on sys.path (zipimport, via a .pth
# file), 40 % of their size on disk. Their *.dist-info stay on disk: `bosun --version`, entry points and
# image scanners read them.
# hadolint ignore=DL3003
RUN site_packages="$(/opt/bosun/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && cd "$site_packages" \
    && /opt/bosun/bin/python -m compileall -q -j 0 -b -x '^\./bosun/' . \
    && find . -name '*.py' -type f -not -path './bosun/*' -delete \
    && /opt/bosun/bin/python -m compileall -q -j 0 bosun \
    && for entry in *; do \
         case "$entry" in bosun | *.dist-info | *.pth) continue ;; esac; \
         if [ -z "$(find "$entry" -type f ! -name '*.pyc' ! -name py.typed -print -quit)" ]; then echo "$entry"; fi; \
       done > /build/pure-python \
    && zip -q -r -9 -m -X dependencies.zip -@ < /build/pure-python \
    && echo dependencies.zip > dependencies.pth

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="bosun" \
      org.opencontainers.image.description="A production runtime for MCP servers, serving the notes reference server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="bosun"
# tini is PID 1: it forwards SIGTERM to the server (which then drains) and reaps stray children. dpkg
# records it (scanners see it); its static twin, unused, is left out. CA certificates come with the base
# image: `bosun check` below fails the build if the trust store is empty.
RUN --mount=type=bind,from=builder,source=/debs,target=/debs \
    dpkg --log=/dev/null --path-exclude=/usr/bin/tini-static --install /debs/tini_0.19.*.deb \
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
