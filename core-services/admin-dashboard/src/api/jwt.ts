/**
 * Reads (never verifies: the gateway does) the claims of an access token issued by `users`
 * (`service-kit/src/jwt.rs`): `sub`, `exp`, `iat`, `roles`, `sid`, ...
 */

export interface Claims {
  sub: string;
  exp: number;
  iat?: number;
  roles: string[];
  sid?: string;
}

function base64UrlDecode(segment: string): string {
  const normalized = segment.replace(/-/g, '+').replace(/_/g, '/');
  const padded = normalized + '='.repeat((4 - (normalized.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims of a JWT, or null when it cannot be read. */
export function decodeClaims(token: string): Claims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const payload: unknown = JSON.parse(base64UrlDecode(parts[1]));
    if (typeof payload !== 'object' || payload === null) return null;
    const p = payload as Record<string, unknown>;
    const roles = Array.isArray(p.roles) ? p.roles.filter((r): r is string => typeof r === 'string') : [];
    const claims: Claims = {
      sub: typeof p.sub === 'string' ? p.sub : '',
      exp: typeof p.exp === 'number' ? p.exp : 0,
      roles,
    };
    if (typeof p.iat === 'number') claims.iat = p.iat;
    if (typeof p.sid === 'string') claims.sid = p.sid;
    return claims;
  } catch {
    return null;
  }
}

/** Whether the claims carry the `admin` role. */
export function isAdmin(claims: Claims | null): boolean {
  return claims?.roles.includes('admin') ?? false;
}
