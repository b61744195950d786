// Postgres inbox mode: ctx.db is a client inside a transaction in which the pool also
// inserts the message id into dedup_inbox. The write and the "processed" mark commit
// together: a redelivery finds the inbox row and is acked as a duplicate.
//   psql test -c 'CREATE TABLE IF NOT EXISTS payments (order_id text PRIMARY KEY, amount numeric, fence bigint)'
//   npx dedup-pool start --queue orders --handler examples/inbox.mjs --inbox postgres://postgres@127.0.0.1:5432/test
//   echo '{"message_id": "o1", "data": {"amount": 25}}' | npx dedup-pool publish --queue orders
// Declared, so start-up refuses to run it without --inbox (ctx.db would be missing).
export const atomic = 'inbox';

export default async function handle(message, ctx) {
  await ctx.db.query('INSERT INTO payments (order_id, amount, fence) VALUES ($1, $2, $3)', [
    message.id,
    message.body.data.amount,
    ctx.fencingToken,
  ]);
}
