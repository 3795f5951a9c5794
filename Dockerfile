# syntax=docker/dockerfile:1
# botfleet: one image for the operator (`botfleet operator`) and the bots (`botfleet run`).
#
# BASE_IMAGE must provide Python 3.11 as `python3` with the venv module: python:3.11-slim-bookworm
# pinned by digest (default; a tag can be re-pointed, a digest cannot) or a Debian bookworm base with
# python3 + python3-venv (tests/image builds on one). To move to a newer base: look up the digest
# (`docker buildx imagetools inspect python:3.11-slim-bookworm`, `crane digest ...` or
# `skopeo inspect docker://python:3.11-slim-bookworm`) and replace the one below.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

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

# Dependencies first, from the hashed lock alone (requirements.lock: every package pinned with the
# sha256 of its files, the build tools included), so a source change reuses this (large) layer and
# a tampered or re-uploaded file on the index fails the build. `--no-deps`: nothing unlocked slips
# in. pip's download cache is a build cache mount: reused by the next build, never part of a layer.
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/botfleet \
    && /opt/botfleet/bin/pip install --require-hashes --no-deps -r requirements.lock

# The bot and the operator only: the developer tools (tools/, package botfleet_tools) stay out, and
# `botfleet --help` hides their commands (sim, demo, record, backtest, dev).
COPY pyproject.toml README.md ./
COPY bot_runtime ./bot_runtime
COPY operator ./operator
# Built with the locked setuptools (no isolated build env fetching unpinned ones); `pip check` fails
# when the lock no longer satisfies pyproject.toml. Then the installers leave the virtualenv: the
# runtime image cannot install anything. Byte-compiled at build time: the root filesystem is read-only.
RUN /opt/botfleet/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/botfleet/bin/pip check \
    && /opt/botfleet/bin/python -m pip uninstall --yes --no-cache-dir setuptools wheel pip \
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
# The user needs a name: kopf names the operator after getpass.getuser(), which raises KeyError for a
# uid without a passwd entry (the operator crashed on start in a real container; issue 13).
RUN install -d -m 0750 -o 65532 -g 65532 /data \
    && echo "botfleet:x:65532:65532:botfleet:/tmp:/usr/sbin/nologin" >> /etc/passwd \
    && echo "botfleet:x:65532:" >> /etc/group

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
