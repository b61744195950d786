#!/usr/bin/env bash
# Checks that `npm pack` makes a package that works outside this repository: packs it,
# installs the tarball into a new project in a temporary folder, runs
# `npx dedup-pool --version`, then a TypeScript handler there on a queue of its own
# (local RabbitMQ and Redis, as the tests use them): the same line published twice
# must run the handler once. Removes its queues, keys and folder afterwards.
# Usage: bash scripts/pack-check.sh   (npm run pack-check)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/dedup-pool-pack.XXXXXX)
queue="pack-check.$$.$RANDOM"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if [ -d "$work/app/node_modules/amqplib" ]; then
    (cd "$work/app" && Q="$queue" node --input-type=module -e '
      import amqp from "amqplib"; import { Redis } from "ioredis";
      const q = process.env.Q, c = await amqp.connect("amqp://guest:guest@127.0.0.1:5672"), ch = await c.createChannel();
      for (const n of [q, `${q}.dlq`, `${q}.retry`]) await ch.deleteQueue(n).catch(() => {});
      await c.close();
      const r = new Redis("redis://127.0.0.1:6379"), keys = await r.keys(`${q}:*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();') || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cd "$repo" && npm pack --silent --pack-destination "$work" >/dev/null
tarball=$(ls "$work"/dedup-pool-*.tgz)
echo "packed $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KB)"
mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "$tarball"
echo "npx dedup-pool --version: $(npx dedup-pool --version)"
cat > handler.ts <<'TS'
interface Order { message_id: string; data: string }
export default async function handle(message: { id: string; body: Order }): Promise<{ seen: string }> {
  console.log(JSON.stringify({ handled: message.id, data: message.body.data }));
  return { seen: message.id };
}
TS
./node_modules/.bin/dedup-pool replica --queue "$queue" --prefix "$queue" --handler ./handler.ts --threads 1 --log-format json > replica.log 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '"replica started"' replica.log && break; sleep 0.2; done
printf '{"message_id":"a1","data":"Hello, World!"}\n{"message_id":"a1","data":"Hello, World!"}\n' | npx dedup-pool publish --queue "$queue"
for _ in $(seq 100); do grep -q '"handled":"a1"' replica.log && break; sleep 0.2; done
sleep 1
kill -TERM "$pid" && wait "$pid" || true
pid=""
runs=$(grep -c '"handled":"a1"' replica.log || true)
if [ "$runs" != 1 ]; then
  echo "FAILED: the handler ran $runs time(s) for a1, expected 1; replica log:" >&2
  cat replica.log >&2
  exit 1
fi
echo "OK: TypeScript handler ran once for an id published twice, from the installed tarball"
