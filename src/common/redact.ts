/**
 * Credentials out of anything shown to a person: logs, error messages, status.
 * redactUrl() for a URL we hold; redactSecrets() for free text that may contain
 * URLs, including ones too malformed to parse (a rejected flag value is often one).
 */

/** Replace the password in a URL so it can be logged. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return redactSecrets(url);
  }
}

/** `scheme://user:password@` -> `scheme://user:***@`, wherever it appears (lists, quotes, JSON). */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/[^\s/:@,"']*:)[^\s@,"']*@/gi;
/** `?password=...` and friends in query strings. */
const QUERY = /([?&;](?:password|passwd|pass|pwd|secret|token|access_token|auth)=)[^&;\s,"']*/gi;

export function redactSecrets(text: string): string {
  return text.replace(USERINFO, '$1***@').replace(QUERY, '$1***');
}
