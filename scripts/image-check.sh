#!/usr/bin/env bash
# Build the image with podman (no daemon) and run it: `dedup-pool --version`, then a short
# pool on the host's RabbitMQ and Redis with a handler image built FROM it the documented way,
# stopped with SIGTERM as Kubernetes stops a pod. Needs root, podman, and the services of
# scripts/services.sh.
#
#   bash scripts/image-check.sh                 # base image from BASE_IMAGE (default node:20-bookworm-slim)
#   LOCAL_BASE=1 bash scripts/image-check.sh    # no registry: a base image made here with debootstrap
#                                               # (Debian's mirror) and this machine's Node
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=$(node -p "require('./package.json').version")
IMAGE=localhost/dedup-pool:$VERSION
BASE_IMAGE=${BASE_IMAGE:-node:20-bookworm-slim}
ADMIN_PORT=${ADMIN_PORT:-7190}
QUEUE=image-check.$$
WORK=$(mktemp -d)
trap 'podman rm -f "$QUEUE" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
say() { printf '\n== %s\n' "$*"; }

# Inside a sandbox without CAP_SYS_RESOURCE (bit 24) on a hybrid cgroup v1/v2 host, crun
# refuses the cgroup layout and neither runtime may raise rlimits: use runc, with limits no
# higher than the ones this shell has.
if ! (( 0x$(awk '/^CapEff/ {print $2}' /proc/self/status) & (1 << 24) )); then
  CONTAINERS_CONF=$WORK/containers.conf
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' "$(ulimit -Hn)" "$(ulimit -Hn)" > "$CONTAINERS_CONF"
  export CONTAINERS_CONF
  echo "no CAP_SYS_RESOURCE: runc, nofile $(ulimit -Hn), nproc 4096"
fi

if [ "${LOCAL_BASE:-}" = 1 ]; then
  BASE_IMAGE=localhost/dedup-pool-base:bookworm-node$(node -p 'process.versions.node.split(".")[0]')
  if ! podman image exists "$BASE_IMAGE"; then
    say "base image $BASE_IMAGE: debootstrap bookworm + $(node --version) from this machine"
    ROOTFS=${ROOTFS:-/var/tmp/dedup-pool-rootfs}
    [ -x "$ROOTFS/bin/sh" ] || debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian
    NODE=$(readlink -f "$(command -v node)")
    NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
    install -D -m 0755 "$NODE" "$ROOTFS/usr/local/bin/node"
    rm -rf "$ROOTFS/usr/local/lib/node_modules/npm"
    mkdir -p "$ROOTFS/usr/local/lib/node_modules"
    cp -a "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
    # This machine's trust (a proxy in front of the registries may have its own CA).
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
    tar -C "$ROOTFS" -c . | podman import --change 'CMD ["node"]' \
      --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - "$BASE_IMAGE" >/dev/null
  fi
fi

say "podman build --build-arg BASE_IMAGE=$BASE_IMAGE -t $IMAGE"
start=$(date +%s)
podman build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" .
echo "built in $(( $(date +%s) - start ))s; size $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes"

say "dedup-pool --version in the image"
got=$(podman run --rm "$IMAGE" --version)
[ "$got" = "$VERSION" ] || { echo "expected $VERSION, got $got"; exit 1; }
echo "$got"
user=$(podman run --rm --entrypoint id "$IMAGE" -u)
[ "$user" != 0 ] || { echo "runs as root"; exit 1; }
echo "uid $user"

say "handler image FROM $IMAGE"
cp examples/handler.mjs "$WORK/handler.mjs"
printf 'FROM %s\nCOPY handler.mjs /app/handler/handler.mjs\n' "$IMAGE" > "$WORK/Dockerfile"
podman build -t localhost/dedup-pool-example:$VERSION "$WORK" >/dev/null

say "a short pool: 50 messages on $QUEUE, then SIGTERM"
podman run -d --name "$QUEUE" --network host --cpus 1 \
  -e DEDUP_QUEUE="$QUEUE" -e DEDUP_PREFIX="$QUEUE" -e DEDUP_ADMIN="127.0.0.1:$ADMIN_PORT" \
  -e DEDUP_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 -e DEDUP_REDIS_URL=redis://127.0.0.1:6379 \
  localhost/dedup-pool-example:$VERSION >/dev/null
for i in $(seq 1 50); do echo "{\"message_id\":\"m$i\",\"data\":$i}"; done | node bin/dedup-pool.js publish --queue "$QUEUE" >/dev/null
for _ in $(seq 1 120); do
  done_count=$(curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" | sed -n "s/^dedup_completed_total{queue=\"$QUEUE\"} //p" || true)
  [ "${done_count:-0}" = 50 ] && break
  sleep 0.5
done
[ "${done_count:-0}" = 50 ] || { echo "completed ${done_count:-0} of 50"; podman logs "$QUEUE" | tail -20; exit 1; }
echo "completed 50; threads $(curl -fs "http://127.0.0.1:$ADMIN_PORT/status" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).threads))') under --cpus 1"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz")" = 200 ]
podman kill --signal TERM "$QUEUE" >/dev/null
code=$(podman wait "$QUEUE")
podman logs "$QUEUE" 2>&1 | grep -q '"msg":"replica stopped"' || { echo "no 'replica stopped' in the logs"; exit 1; }
[ "$code" = 0 ] || { echo "exit $code after SIGTERM"; exit 1; }
echo "SIGTERM: drained, exit 0"
# Remove what this check created: its queues and its Redis keys.
node --input-type=module -e "
import amqp from 'amqplib'; import { Redis } from 'ioredis';
const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5672'); const ch = await c.createChannel();
for (const q of ['$QUEUE', '$QUEUE.retry', '$QUEUE.dlq']) await ch.deleteQueue(q);
await c.close();
const r = new Redis('redis://127.0.0.1:6379'); let cursor = '0';
do { const [next, keys] = await r.scan(cursor, 'MATCH', '$QUEUE:*', 'COUNT', 1000); cursor = next; if (keys.length) await r.del(...keys); } while (cursor !== '0');
r.disconnect();
"
say "image check passed"
