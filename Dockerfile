# alert-router container image: a non-root service with its SQLite database on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Build from the project files only (the wheel force-includes templates/).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY router ./router
COPY templates ./templates
RUN pip install --no-cache-dir . && rm -rf /src

# A fixed uid/gid so volume permissions can be prepared on the host.
RUN groupadd --system --gid 10001 alertrouter \
    && useradd --system --uid 10001 --gid alertrouter --home-dir /var/lib/alert-router \
       --shell /usr/sbin/nologin alertrouter \
    && mkdir -p /var/lib/alert-router \
    && chown alertrouter:alertrouter /var/lib/alert-router

# The default storage path is relative (alert-router.db), so it lands on the volume.
WORKDIR /var/lib/alert-router
VOLUME /var/lib/alert-router
USER alertrouter

EXPOSE 9095

# No curl in the slim image: probe with python's urllib.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9095/-/healthy', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["alert-router"]
CMD ["serve", "--listen", "0.0.0.0:9095"]
