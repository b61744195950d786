/** Certificates for amqps:// and rediss://, read once at start from the files the options name. */
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import type { PoolOptions } from './options.js';

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export function loadTls(opts: Pick<PoolOptions, 'tlsCa' | 'tlsCert' | 'tlsKey'>): TlsFiles {
  const read = (path: string | undefined, flag: string): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(flag, `--${flag} ${path} cannot be read: ${(err as Error).message}`);
    }
  };
  const files: TlsFiles = {};
  const ca = read(opts.tlsCa, 'tls-ca');
  const cert = read(opts.tlsCert, 'tls-cert');
  const key = read(opts.tlsKey, 'tls-key');
  if (ca) files.ca = ca;
  if (cert) files.cert = cert;
  if (key) files.key = key;
  return files;
}
