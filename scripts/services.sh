#!/usr/bin/env bash
# Make sure Redis, RabbitMQ and PostgreSQL (for the inbox mode) answer on loopback;
# start them (installing Debian's packages where missing) when they do not. Fails
# with a message saying what to do.
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

postgres_up() {
  port_open 5432 && { log "postgresql: up on 127.0.0.1:5432"; return; }
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || die "postgresql is installed but has no cluster in /etc/postgresql"
  log "postgresql: starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || pg_ctlcluster "$version" main start
  wait_port 5432 60 postgresql
  # The tests and the inbox examples use postgres:postgres@127.0.0.1/test.
  su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
  su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname = 'test'\" | grep -q 1 || createdb test" >/dev/null 2>&1 || true
  log "postgresql: up"
}

redis_up
rabbit_up
postgres_up
