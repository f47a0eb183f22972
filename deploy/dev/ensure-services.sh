#!/usr/bin/env bash
# Starts RabbitMQ and PostgreSQL when they are not already answering, and checks the
# toolchains the example submissions and tests compile with. Safe to run repeatedly.
set -euo pipefail

answers() { (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    local name=$1 port=$2
    for _ in $(seq 1 60); do answers "$port" && return 0; sleep 1; done
    echo "ensure-services: $name did not come up on port $port" >&2
    return 1
}

if ! answers 5672; then
    echo "ensure-services: starting RabbitMQ"
    rabbitmq-server -detached
    wait_for RabbitMQ 5672
fi
if ! answers 5432; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    wait_for PostgreSQL 5432
fi

missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v g++ >/dev/null || missing+=(g++)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v unshare >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    echo "ensure-services: installing ${missing[*]}"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi
