# Sandbox image for C submissions: the toolchain, python3 for the supervisor
# (services/sandbox/backends/supervisor.py) and the unprivileged user `student` (10001).
# deploy/sandbox/build-images.sh builds the same image without a registry and reads
# PACKAGES from this file; the version label is a hash of PACKAGES (the script checks it).
FROM debian:bookworm-slim

ARG PACKAGES="gcc libc6-dev python3"
LABEL org.autograder.sandbox.language="c" \
      org.autograder.sandbox.version="b68be09d1dd4"

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends $PACKAGES; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --gid 10001 student; \
    useradd --uid 10001 --gid 10001 --no-create-home --no-log-init \
        --home-dir /workspace --shell /bin/sh student; \
    mkdir -p /workspace; \
    chown 10001:10001 /workspace

ENV LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR /workspace
USER 10001:10001
