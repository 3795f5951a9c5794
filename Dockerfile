# syntax=docker/dockerfile:1
# botfleet: one image for the operator (`botfleet operator`) and the bots (`botfleet run`).
#
# BASE_IMAGE must provide Python 3.11 as `python3` with the venv module: python:3.11-slim-bookworm
# (default) or a Debian bookworm base with python3 + python3-venv (tests/image builds on one).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- builder: a virtualenv with botfleet and its dependencies, nothing else ----
FROM ${BASE_IMAGE} AS builder
# Optional build-time knobs for pip behind a proxy (never stored in the runtime image).
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/sh", "-eu", "-c"]
WORKDIR /src
# pip's download cache is a build cache mount: reused by the next build, never part of a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/botfleet \
    && /opt/botfleet/bin/pip install --upgrade "pip>=24,<26" "setuptools>=69,<81" "wheel>=0.43,<1"

# Dependencies first, from pyproject.toml alone, so a source change reuses this (large) layer.
COPY pyproject.toml README.md ./
RUN --mount=type=cache,target=/root/.cache/pip \
    mkdir -p bot_runtime operator/botfleet_operator \
    && touch bot_runtime/__init__.py operator/botfleet_operator/__init__.py \
    && /opt/botfleet/bin/pip install . \
    && /opt/botfleet/bin/pip uninstall --yes botfleet \
    && rm -rf bot_runtime operator build ./*.egg-info

# The bot and the operator only: the developer tools (tools/, package botfleet_tools) stay out, and
# `botfleet --help` hides their commands (sim, demo, record, backtest, dev).
COPY bot_runtime ./bot_runtime
COPY operator ./operator
# Byte-compiled at build time: the runtime root filesystem is read-only.
RUN /opt/botfleet/bin/pip install --no-cache-dir --no-deps . \
    && /opt/botfleet/bin/python -m compileall -q /opt/botfleet/lib \
    && /opt/botfleet/bin/botfleet --version

# ---- runtime: the base plus the virtualenv, run as a numeric non-root user ----
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="botfleet" \
      org.opencontainers.image.description="Kubernetes operator and runtime for Polymarket trading bots" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/botfleet/botfleet" \
      org.opencontainers.image.documentation="https://github.com/botfleet/botfleet/tree/main/docs"

COPY --from=builder /opt/botfleet /opt/botfleet
# /data holds the trade journal (a PersistentVolume in Kubernetes); /tmp is an emptyDir there.
# Both are the only writable paths, so the pod can run with readOnlyRootFilesystem.
RUN install -d -m 0750 -o 65532 -g 65532 /data

ENV PATH=/opt/botfleet/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 65532:65532
WORKDIR /data
# 9100: a bot's metrics and health; 8080: the operator's metrics.
EXPOSE 9100 8080
ENTRYPOINT ["botfleet"]
CMD ["--help"]
