/** A connection to any node of an `--amqp` list, for tools that can use any node (dlq, queue depths). */
import type { ChannelModel } from 'amqplib';
import { amqpNodes, connectAmqp } from './broker.js';
import type { TlsFiles } from '../common/tls.js';

/** The first node of the list that accepts a connection; the last node's error when none does. */
export async function connectAnyNode(list: string, name: string, tls?: TlsFiles): Promise<ChannelModel> {
  let lastErr: unknown;
  for (const url of amqpNodes(list)) {
    try {
      return await connectAmqp(url, name, tls);
    } catch (err) {
      lastErr = err;
    }
  }
  throw lastErr;
}
