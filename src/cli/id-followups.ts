/** `id show --inbox URL`: the follow-ups an id's handler published, as its outbox rows hold them. */
import pg from 'pg';
import { errorMessage } from '../common/errors.js';
import { outboxOf } from '../store/outbox.js';

export type FollowupLookup = { rows: { position: number; id: string; sent: boolean }[] } | { unreadable: string };

export async function lookUpFollowups(url: string, scope: string, id: string): Promise<FollowupLookup> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return { rows: await outboxOf(client, scope, id) };
  } catch (err) {
    return { unreadable: errorMessage(err) };
  } finally {
    await client.end().catch(() => {});
  }
}
