# syntax=docker/dockerfile:1
#
# The plg-handoff worker image: `handoff worker` against the Temporal named in the config file.
#
#   docker build -t plg-handoff .
#   docker run --rm \
#     -v "$PWD/deploy/handoff.toml:/etc/plg-handoff/handoff.toml:ro" \
#     -e HANDOFF_HUBSPOT_ACCESS_TOKEN \
#     plg-handoff
#
# No secrets are baked in: HANDOFF_HUBSPOT_ACCESS_TOKEN (and HANDOFF_TEMPORAL_API_KEY for
# Temporal Cloud, HANDOFF_CODEC_KEYS for encrypted payloads) come from the environment at run
# time, the config file is mounted. The same image runs `handoff codec-server`.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: install the project and its dependencies into a virtualenv ----------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
# README.md is the package's `readme` in pyproject.toml: the build needs it.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && handoff --help >/dev/null

# ---- runtime: the virtualenv alone, run by an unprivileged user ------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="plg-handoff" \
      org.opencontainers.image.description="PLG handoff daemon on Temporal: product usage in, CRM opportunities out." \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A fixed numeric uid/gid so volume ownership and `runAsNonRoot` checks are predictable.
# /var/lib/plg-handoff is the config's `data_dir` (usage files, quarantine); a named volume
# mounted there starts with this ownership. /etc/plg-handoff receives the mounted config file.
RUN groupadd --system --gid 10001 handoff \
    && useradd --system --uid 10001 --gid handoff --home-dir /home/handoff --create-home \
       --shell /usr/sbin/nologin handoff \
    && mkdir -p /etc/plg-handoff /var/lib/plg-handoff/usage /var/lib/plg-handoff/profiles \
    && chown -R handoff:handoff /var/lib/plg-handoff

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
WORKDIR /var/lib/plg-handoff

# No HEALTHCHECK: the worker serves no endpoint to probe. Its liveness shows in Temporal
# (task queue pollers, in the Web UI or `temporal task-queue describe`).
ENTRYPOINT ["handoff"]
CMD ["worker", "--config", "/etc/plg-handoff/handoff.toml"]
