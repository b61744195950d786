#!/usr/bin/env bash
# Make sure Redis and RabbitMQ answer on loopback; start them (installing Debian's
# packages where missing) when they do not. Fails with a message saying what to do.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds name
  for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done
  die "$3 did not open port $1 within $2s"
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  can_install || die "$1 is not installed and this script cannot install it (needs root and apt-get): install it, or point DEDUP_REDIS_URL / DEDUP_AMQP_URL at running servers"
  log "installing $*"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

redis_up() {
  port_open 6379 && { log "redis: up on 127.0.0.1:6379"; return; }
  command -v redis-server >/dev/null || apt_install redis-server
  log "redis: starting"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir "$( [ -w /var/lib/redis ] && echo /var/lib/redis || echo /tmp )" \
    --logfile "$( [ -w /var/log/redis ] && echo /var/log/redis/dedup-pool.log || echo /tmp/redis-dedup-pool.log )"
  wait_port 6379 30 redis
  log "redis: up"
}

rabbit_up() {
  port_open 5672 && { log "rabbitmq: up on 127.0.0.1:5672"; return; }
  command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] || apt_install rabbitmq-server
  log "rabbitmq: starting (this takes a few seconds)"
  PATH="$PATH:/usr/sbin" rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 90 rabbitmq
  log "rabbitmq: up"
}

redis_up
rabbit_up
