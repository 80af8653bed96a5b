# syntax=docker/dockerfile:1
#
# rollout-operator container image.
#
#   docker build -t ghcr.io/rollout-operator/rollout-operator:0.1.0 .
#
# Stage 1 builds the operator's wheel plus wheels of all its dependencies;
# stage 2 installs them offline (--no-index) into a slim Python and runs as
# the unprivileged uid/gid 65532 ("nonroot"). Keep VERSION equal to
# [project].version in pyproject.toml (tests/unit/test_dockerfile.py checks).

FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="rollout-operator" \
      org.opencontainers.image.description="Declarative set-image, restart-on-config-change and rollout status for Kubernetes workloads" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "rollout-operator==${VERSION}"
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["rollout-operator"]
CMD ["run"]
