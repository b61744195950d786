/**
 * Every Redis key dedup-pool touches is named here.
 *
 * Ids go into keys as they are when short and printable; otherwise (long ids,
 * control characters) as a SHA-256, so a hostile id can never make a key huge
 * or ambiguous.
 */
import { createHash } from 'node:crypto';

// A leading "#" marks the hashed form, so ids that start with it are hashed too.
const SAFE_ID = /^(?!#)[\x21-\x7e]{1,128}$/;

export function idKeyPart(id: string): string {
  return SAFE_ID.test(id) ? id : `#${createHash('sha256').update(id).digest('base64url')}`;
}

export interface Keys {
  /**
   * What the batch scripts append an id's key part to (they take each id once
   * instead of three key names): `<prefix>:done:`, `<prefix>:lock:`, `<prefix>:fence:`.
   */
  readonly prefixes: { done: string; lock: string; fence: string };
  /** Completion record: present means the id was processed inside the dedup window. */
  done(id: string): string;
  /** Lease of the replica processing the id now (Redlock resource). */
  lock(id: string): string;
  /** Grant counter: the fencing token, and the durable count of handler attempts. */
  fence(id: string): string;
}

export function keysFor(prefix: string): Keys {
  const prefixes = { done: `${prefix}:done:`, lock: `${prefix}:lock:`, fence: `${prefix}:fence:` };
  return {
    prefixes,
    done: (id) => prefixes.done + idKeyPart(id),
    lock: (id) => prefixes.lock + idKeyPart(id),
    fence: (id) => prefixes.fence + idKeyPart(id),
  };
}
