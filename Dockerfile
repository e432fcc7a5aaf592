# Regent's container image: `regent serve` as a non-root user, state on a volume, read-only root filesystem.
#
# One Dockerfile, two ways to build it (README, "Run it as a container"):
#
#   With network (the usual case):
#       docker build -t regent .
#     wheelhouse/ holds no regent wheel, so the build stage runs `pip wheel` against PyPI first.
#
#   Without network (air-gapped hosts; the test in tests/container does this with RUN steps that have
#   no network at all):
#       python3 -m pip wheel --wheel-dir wheelhouse .          # on a host with PyPI access
#       docker build --network none --build-arg BASE_IMAGE=regent-base:bookworm -t regent .
#     The build stage finds the regent wheel in wheelhouse/ and installs it and every dependency from
#     there with --no-index. Build the wheels with the Python version of the base image (3.11 here).
#
# Either way the final stage receives only the finished virtualenv: no compiler, no pip cache, no wheels.
# BASE_IMAGE must be a Debian-based image with python3 and its venv module: the default is Docker's
# official Python image; tests use a base made with debootstrap (python3, python3-venv, ca-certificates)
# and `docker import`, because no image registry is reachable there.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# wheelhouse/ is always in the build context (it holds a README): empty, or filled by the pre-step above.
COPY wheelhouse/ /wheelhouse/
COPY pyproject.toml README.md ./
COPY prompts/ prompts/
COPY tools/ tools/
COPY bot/ bot/
RUN set -eu; \
    python3 -m venv /opt/regent; \
    if ! ls /wheelhouse/regent-*.whl >/dev/null 2>&1; then \
        /opt/regent/bin/pip wheel --wheel-dir /wheelhouse /src; \
    fi; \
    /opt/regent/bin/pip install --no-index --find-links /wheelhouse regent; \
    /opt/regent/bin/pip uninstall --yes pip setuptools; \
    /opt/regent/bin/regent --help >/dev/null

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="regent" \
      org.opencontainers.image.description="Slack assistant for container registries managed by Portainer" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
# A fixed numeric uid/gid, so `runAsNonRoot` checks and volume ownership work without a passwd lookup.
ARG REGENT_UID=10001
RUN set -eu; \
    groupadd --system --gid "${REGENT_UID}" regent; \
    useradd --system --uid "${REGENT_UID}" --gid regent --home-dir /var/lib/regent --no-create-home \
        --shell /usr/sbin/nologin regent; \
    mkdir -p /var/lib/regent /etc/regent; \
    chown regent:regent /var/lib/regent; \
    chmod 0750 /var/lib/regent
COPY --from=build /opt/regent /opt/regent
# Everything Regent writes goes to the state volume: its SQLite file, caches, regent.log, and the HOME,
# matplotlib and XDG cache paths that libraries write to. Python's temp files go to /tmp, which must be
# a tmpfs under --read-only (compose.yaml mounts one). The root filesystem itself is never written.
ENV PATH=/opt/regent/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    REGENT_STATE_DIR=/var/lib/regent \
    HOME=/var/lib/regent \
    XDG_CACHE_HOME=/var/lib/regent/.cache \
    XDG_CONFIG_HOME=/var/lib/regent/.config \
    MPLCONFIGDIR=/var/lib/regent/.cache/matplotlib \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME ["/var/lib/regent"]
# The config file is read from the working directory by default: mount it at /etc/regent/regent.yml
# (or point REGENT_CONFIG elsewhere). Without one, Regent starts with an empty configuration.
WORKDIR /etc/regent
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
# Python is in the image anyway, so the check needs no curl. REGENT_HEALTHCHECK_URL is for a container
# that serves on another port (e.g. with --network host); only this check reads it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('REGENT_HEALTHCHECK_URL') or 'http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["regent", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
