/**
 * Ids of follow-up messages (ctx.publish): derived from what identifies the call,
 * never from time or chance, so a rerun of the handler publishes under the same
 * ids and the next service recognises the copies.
 *
 *   id = UUIDv8 of SHA-256( NAMESPACE bytes ‖ UTF-8(scope "\0" incoming id "\0" position) )
 *
 * the name-based construction of RFC 9562 (appendix B.2) with SHA-256: the first
 * 16 bytes of the hash, version nibble 8, variant bits 10. Incoming ids hold no
 * control characters (amqp/message.ts), so the NUL-separated name is unambiguous.
 */
import { createHash } from 'node:crypto';

/** dedup-pool's namespace for follow-up ids (a fixed random UUID). */
export const FOLLOWUP_NAMESPACE = '6f1c2a4e-93b5-4d0e-8a7f-2c5e9d1b3a60';

const NAMESPACE_BYTES = Buffer.from(FOLLOWUP_NAMESPACE.replace(/-/g, ''), 'hex');

/** The id of the `position`-th (from 0) ctx.publish call of a run for `incomingId` in `scope`. */
export function followupId(scope: string, incomingId: string, position: number): string {
  const b = createHash('sha256').update(NAMESPACE_BYTES).update(`${scope}\0${incomingId}\0${position}`, 'utf8').digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
