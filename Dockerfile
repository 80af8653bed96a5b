# syntax=docker/dockerfile:1
#
# rollout-operator container image.
#
#   make image           (hack/image.sh: buildah without a Docker engine, or docker)
#   docker build -t ghcr.io/rollout-operator/rollout-operator:0.1.0 .
#
# The builder stage installs the operator and its dependencies into a venv,
# /opt/rollout-operator, which is all the final stage adds to a slim Python:
# no pip, setuptools or wheel in the image's own layer, no build files. The
# dependencies get their own layer (from pyproject.toml alone), so a change of
# the operator's code rebuilds only the last, small one. The image runs as the
# unprivileged uid/gid 65532 ("nonroot"), which has no passwd entry: USER and
# HOME are set so that nothing needs one (getpass.getuser() reads $USER).
# Keep VERSION equal to [project].version in pyproject.toml
# (tests/unit/test_dockerfile.py checks; the install fails otherwise).

FROM python:3.11-slim-bookworm AS builder
ARG VERSION=0.1.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml ./
RUN python -m venv --without-pip /opt/rollout-operator \
    && python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' >/tmp/requirements.txt \
    && pip --python /opt/rollout-operator/bin/python install --requirement /tmp/requirements.txt
COPY README.md ./
COPY operator/ operator/
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip --python /opt/rollout-operator/bin/python install --no-deps --no-index --find-links=/wheels "rollout-operator==${VERSION}" \
    && pip --python /opt/rollout-operator/bin/python check

FROM python:3.11-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="rollout-operator" \
      org.opencontainers.image.description="Declarative set-image, restart-on-config-change and rollout status for Kubernetes workloads" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/rollout-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    USER=rollout-operator \
    HOME=/tmp
COPY --from=builder /opt/rollout-operator /opt/rollout-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["rollout-operator"]
CMD ["run"]
