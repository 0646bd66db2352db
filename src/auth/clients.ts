/** Creating integration clients: the secret is generated here and returned exactly once. */
import type { Database } from '../db/database.ts';
import { generateClientId, generateClientSecret, hashClientSecret } from './client-secrets.ts';

export interface NewClient {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly clientId?: string;
}

export interface IssuedClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

export async function createClient(db: Database, tenantId: string, input: NewClient): Promise<IssuedClientCredentials> {
  const clientId = input.clientId ?? generateClientId();
  const clientSecret = generateClientSecret();
  await db.owner.scoped(tenantId, async (tx) => {
    const [client] = await tx.query<{ id: string }>(
      `INSERT INTO clients (tenant_id, client_id, name, scopes) VALUES ($1, $2, $3, $4) RETURNING id`,
      [tenantId, clientId, input.name, input.scopes],
    );
    await tx.query(`INSERT INTO client_secrets (tenant_id, client_id, secret_hash) VALUES ($1, $2, $3)`, [
      tenantId,
      client?.id,
      hashClientSecret(clientSecret),
    ]);
  });
  return { clientId, clientSecret };
}
