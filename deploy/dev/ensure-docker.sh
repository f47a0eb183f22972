#!/usr/bin/env bash
# Makes a Docker engine answer and the sandbox images exist: installs docker.io and
# debootstrap when missing, starts dockerd when `docker info` fails, then builds the images
# (deploy/sandbox/build-images.sh leaves current ones alone). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/../.."

DOCKERD_LOG=/var/log/dockerd.log
WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}

say() { echo "ensure-docker: $*"; }
die() { say "$*" >&2; exit 1; }
engine_answers() { docker info >/dev/null 2>&1; }
running() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

missing=()
{ command -v docker && command -v dockerd; } >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if ! engine_answers; then
    # A dockerd that is still starting owns the pid file; a second one would exit at once.
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if ! running "$pid"; then
        say "starting dockerd (log: $DOCKERD_LOG)"
        # Its own session, so Ctrl-C on make does not stop the engine.
        setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
        pid=$!
    fi
    for _ in $(seq 1 "$WAIT_SECONDS"); do
        engine_answers && break
        running "$pid" || { tail -n 20 "$DOCKERD_LOG" >&2; die "dockerd exited; see $DOCKERD_LOG"; }
        sleep 1
    done
    engine_answers || die "dockerd did not answer within ${WAIT_SECONDS} s; see $DOCKERD_LOG"
fi

bash deploy/sandbox/build-images.sh
