// Redis-atomic mode: the handler describes its Redis writes instead of doing them; the pool
// applies them in the same script as the completion record, only while its lease is
// current. A crash anywhere leaves both or neither: no duplicate effect, ever.
//   npx dedup-pool start --queue payments --handler examples/redis-atomic.mjs
//   echo '{"message_id": "p1", "data": {"account": "alice", "amount": 10}}' | npx dedup-pool publish --queue payments
//   redis-cli GET balance:alice     -> 10, however often p1 is delivered
// Declared, so start-up refuses a store that cannot apply effects exactly once (several
// --redis masters, or --redis-cluster) instead of dead-lettering each message.
export const atomic = 'redis';

export default async function handle(message, ctx) {
  const { account, amount } = message.body.data;
  ctx.redis('INCRBY', `balance:${account}`, amount);
  ctx.redis('HSET', `payment:${message.id}`, 'account', account, 'amount', amount);
  return { account };
}
