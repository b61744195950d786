/**
 * The completion record's value: the body's fingerprint, then `:` and the
 * handler's result as JSON when it is small. Kept short: there is one per id in
 * the dedup window.
 */
import { hash } from 'node:crypto';

/** Length of the body fingerprint at the head of every completion record. */
export const FINGERPRINT_CHARS = 12;

/** First 72 bits of the body's SHA-256: enough to tell "same id, other payload" apart. */
export function fingerprint(content: Buffer): string {
  return hash('sha256', content, 'base64url').slice(0, FINGERPRINT_CHARS);
}

export function encodeRecord(bodyFingerprint: string, resultJson: string | undefined, maxBytes: number): string {
  if (resultJson === undefined || Buffer.byteLength(resultJson) > maxBytes) return bodyFingerprint;
  return `${bodyFingerprint}:${resultJson}`;
}

export function decodeRecord(record: string): { fingerprint: string; result?: unknown } {
  const fp = record.slice(0, FINGERPRINT_CHARS);
  if (record.length <= FINGERPRINT_CHARS + 1) return { fingerprint: fp };
  try {
    return { fingerprint: fp, result: JSON.parse(record.slice(FINGERPRINT_CHARS + 1)) };
  } catch {
    return { fingerprint: fp };
  }
}
