/**
 * Every instance listens for the database's change notifications (see the change_notifications
 * migration) and drops exactly the cache entries a change affects. After a reconnect, when
 * notifications may have been missed, it drops everything.
 */
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';

export const CHANGES_CHANNEL = 'tenant_connect_changes';

/** What changed: `id` is the client's client_id for clients (null when it cannot be told, e.g. a
 * secret whose client was deleted with it) and the kid for keys. */
export type Change =
  | { readonly kind: 'tenant'; readonly tenant: string; readonly environment: string; readonly slug: string }
  | { readonly kind: 'client'; readonly tenant: string; readonly id: string | null }
  | { readonly kind: 'keys'; readonly tenant: string; readonly id: string | null }
  | TokenRevocationChange;

/** A revoked access token (`id`: its jti) or a client's tokens up to `issuedBefore` (`id`: the
 * client_id), listed until `exp` (epoch seconds): see token-revocations.ts. */
export type TokenRevocationChange =
  | { readonly kind: 'revoked_token'; readonly tenant: string; readonly id: string; readonly exp: number }
  | { readonly kind: 'client_cutoff'; readonly tenant: string; readonly id: string; readonly issuedBefore: number; readonly exp: number };

export interface ChangeHandlers {
  onChange(change: Change): void;
  /** after a reconnect: what was notified meanwhile is lost */
  onReset(): void;
  /** the connection is lost: changes go unheard until onReset */
  onLost?(): void;
}

export function parseChange(payload: string): Change | undefined {
  try {
    const value = JSON.parse(payload) as Partial<Change> & Record<string, unknown>;
    if (typeof value.tenant !== 'string') return undefined;
    if (value.kind === 'tenant' && typeof value.environment === 'string' && typeof value.slug === 'string') return value as Change;
    if (value.kind === 'client' || value.kind === 'keys') {
      return { kind: value.kind, tenant: value.tenant, id: typeof value.id === 'string' ? value.id : null };
    }
    return parseRevocation(value);
  } catch {
    // not ours; ignored below
  }
  return undefined;
}

function parseRevocation(value: Record<string, unknown>): TokenRevocationChange | undefined {
  const { kind, tenant, id, exp, issued_before: issuedBefore } = value;
  if (typeof tenant !== 'string' || typeof id !== 'string' || typeof exp !== 'number') return undefined;
  if (kind === 'revoked_token') return { kind, tenant, id, exp };
  if (kind === 'client_cutoff' && typeof issuedBefore === 'number') return { kind, tenant, id, issuedBefore, exp };
  return undefined;
}

export function listenForChanges(db: Database, log: Logger, handlers: ChangeHandlers): Promise<() => Promise<void>> {
  return db.listen(
    CHANGES_CHANNEL,
    (payload) => {
      const change = parseChange(payload);
      if (change) handlers.onChange(change);
      else log.warn({ payload }, 'unrecognised change notification');
    },
    () => {
      log.warn('change notifications reconnected: dropping every cache');
      handlers.onReset();
    },
    () => {
      log.warn('change notifications lost: /readyz fails until they reconnect');
      handlers.onLost?.();
    },
  );
}
