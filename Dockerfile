# alert-router container image: a non-root service with its SQLite database on a volume.
#
#   docker build --build-arg REVISION=$(git rev-parse --short=12 HEAD) -t alert-router .
#   docker run -p 9095:9095 -v alert-router:/var/lib/alert-router alert-router
#   docker run ... alert-router --config.file=/etc/alert-router/mine.yml --log.level=debug
#
# The defaults (config file, listen address, storage) are in ENTRYPOINT, so flags passed to
# `docker run` are added to them (a later flag wins) instead of replacing them. Other
# commands: `docker run --entrypoint alert-router <image> check-config <file>`.

# Pinned to a patch release of Python and of Debian (no digest: pin one with
# `docker buildx imagetools inspect python:3.11.11-slim-bookworm` where a registry is
# reachable).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY router ./router
COPY templates ./templates
# A virtualenv copied whole into the runtime stage: no pip, no build files there.
RUN python -m venv /opt/alert-router \
    && /opt/alert-router/bin/pip install . \
    && rm -rf /src
ARG REVISION=unknown
# `alert-router --version` and alert_router_build_info read it (router/buildinfo.py).
RUN /opt/alert-router/bin/python -c "import pathlib, router; pathlib.Path(router.__file__).with_name('REVISION').write_text('${REVISION}\n')"

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="alert-router" \
      org.opencontainers.image.description="Routes, groups and durably delivers Prometheus/Alertmanager alerts" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="https://github.com/alert-router/alert-router#readme" \
      org.opencontainers.image.source="https://github.com/alert-router/alert-router"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/alert-router/bin:$PATH

COPY --from=build /opt/alert-router /opt/alert-router
COPY contrib/alert-router.yml /etc/alert-router/alert-router.yml

# A fixed uid/gid so volume permissions can be prepared on the host (and Kubernetes'
# runAsNonRoot can check a numeric USER).
RUN groupadd --system --gid 10001 alertrouter \
    && useradd --system --uid 10001 --gid alertrouter --home-dir /var/lib/alert-router \
       --shell /usr/sbin/nologin alertrouter \
    && mkdir -p /var/lib/alert-router \
    && chown alertrouter:alertrouter /var/lib/alert-router

WORKDIR /var/lib/alert-router
VOLUME /var/lib/alert-router
USER 10001:10001
EXPOSE 9095

# `healthcheck` reads the router's own command line (/proc/1/cmdline) and config, so it
# probes the port and scheme (TLS from --web.config.file) the router really listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["alert-router", "healthcheck"]

ENTRYPOINT ["alert-router", "serve", \
            "--config.file=/etc/alert-router/alert-router.yml", \
            "--web.listen-address=0.0.0.0:9095", \
            "--storage.path=/var/lib/alert-router"]
CMD []
