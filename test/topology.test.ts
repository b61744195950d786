/** How the store's calls are routed and retried on a Redis Cluster (pure: the calls are played by the test). */
import { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { keysFor } from '../src/index.js';
import type { ScriptedCluster } from '../src/store/redis-clients.js';
import { Topology } from '../src/store/topology.js';

describe('Topology on a Redis Cluster', () => {
  // Never connects: the test plays every call, and slots are unknown (one group).
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true }) as unknown as ScriptedCluster;
  cluster.refreshSlotsCache = () => {};
  afterEach(() => cluster.disconnect());
  const keys = keysFor('t', 'q');
  const ids = ['a', 'b', 'c'].map((id) => keys.id(id));

  it('a call a moving slot stopped part-way is repeated with cutShort; one refused before it ran is not', async () => {
    const topology = new Topology(cluster, keys, 5_000);
    const seen: boolean[] = [];
    const errors = [new Error('ERR Error running script: Script attempted to access a non local key in a cluster node'), new Error('MOVED 866 127.0.0.1:7001')];
    const votes = await topology.run(ids, async (_c, _route, idx, _i, _node, cutShort) => {
      seen.push(cutShort);
      const err = errors.shift();
      if (err) throw err;
      return idx.map(() => 1);
    });
    // Stopped part-way, then refused outright (MOVED: nothing ran), then answered.
    expect(seen).toEqual([false, true, true]);
    expect(votes.map((v) => v[0])).toEqual(ids.map(() => ({ ok: true, value: 1 })));
  });

  it('a call that only ever failed before running never carries cutShort', async () => {
    const topology = new Topology(cluster, keys, 5_000);
    const seen: boolean[] = [];
    let calls = 0;
    await topology.run(ids, async (_c, _route, idx, _i, _node, cutShort) => {
      seen.push(cutShort);
      if (calls++ < 2) throw new Error('CLUSTERDOWN The cluster is down');
      return idx.map(() => 1);
    });
    expect(seen).toEqual([false, false, false]);
  });
});
