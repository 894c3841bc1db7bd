// Credentials that sit in node URLs (http://user:password@host/...) must never reach logs,
// metrics, the status page or error messages. Everything shown to people goes through here.

const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*)(?::[^/@\s]*)?@/gi;

/** `http://user:secret@host/x` → `http://user:***@host/x`; strings without credentials unchanged. */
export function redact(text: string): string {
  return text.replace(USERINFO, (_m, scheme: string, user: string) => `${scheme}${user}:***@`);
}
