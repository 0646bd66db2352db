/**
 * /v1/tenants/{slug}/keys: a tenant's signing keys, and their rotation (staged, or immediate for
 * an emergency); /v1/key-encryption-key/rotate re-encrypts every private key under the current
 * key-encryption key. Platform admins only.
 */
import { reencryptSigningKeys } from '../auth/key-encryption.ts';
import {
  KeyRotationConflictError,
  listSigningKeys,
  resolveRotationDelay,
  RotationDelayError,
  rotateSigningKey,
} from '../auth/key-rotation.ts';
import { generateSigningKey } from '../auth/signing-keys.ts';
import type { SigningAlgorithm } from '../catalog/signing-algorithms.ts';
import { ApiError } from '../http/problem.ts';
import { effectiveSettings } from '../tenancy/tenant-settings.ts';
import type { RouteSpec } from '../http/route-spec.ts';
import { CONFLICT, list, ref } from './admin-openapi.ts';
import { ADMIN_SCHEMAS, NO_QUERY } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, adminRoute, audit, findRouteTenant } from './admin-steps.ts';

const tags = ['Signing keys'];

export function keyRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  const { db, config } = deps;

  return [
    adminRoute({
      method: 'get',
      path: '/tenants/:slug/keys',
      operationId: 'listKeys',
      summary: 'List signing keys (next, current, retired)',
      tags,
      query: NO_QUERY,
      responses: { 200: { description: 'the keys', schema: list('Key') } },
      handler: async function listKeys(ctx) {
        const tenant = await findRouteTenant(db.admin, ctx);
        ctx.body = { data: await db.admin.scoped(tenant.id, (tx) => listSigningKeys(tx, tenant.id)), next: null };
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/keys/rotate',
      operationId: 'rotateKeys',
      summary: 'Stage a next key, promoted after the delay; immediate: an emergency rotation that drops the old key',
      tags,
      body: { schema: ADMIN_SCHEMAS.KeyRotation, optional: true },
      responses: {
        200: {
          description: 'what changed',
          schema: { type: 'object', properties: { key: ref('Key'), retired: { type: 'array', items: ref('Key') } } },
        },
        409: CONFLICT,
      },
      handler: async function rotateKeys(ctx, { body }) {
        const immediate = body.immediate === true;
        let delaySeconds = 0;
        if (!immediate) {
          try {
            delaySeconds = resolveRotationDelay(config, body.delay_seconds as number | undefined);
          } catch (error) {
            if (!(error instanceof RotationDelayError)) throw error;
            throw new ApiError('validation-failed', `${error.message}; or rotate with "immediate": true in an emergency.`, {
              members: { errors: [{ pointer: '/delay_seconds', detail: `must be at least ${error.minimumSeconds}` }] },
            });
          }
        }
        const tenant = await findRouteTenant(db.admin, ctx);
        // a new algorithm in the settings takes effect here, with the next key
        const alg = (body.alg as SigningAlgorithm | undefined) ?? effectiveSettings(tenant.settings).signing_alg;
        const key = await generateSigningKey(alg); // RSA takes ~140 ms: outside the transaction
        ctx.body = await db.admin.scoped(tenant.id, async (tx) => {
          let result;
          try {
            result = await rotateSigningKey(tx, tenant.id, key, deps.keyEncryption, { delaySeconds, immediate });
          } catch (error) {
            if (!(error instanceof KeyRotationConflictError)) throw error;
            throw new ApiError(
              'conflict',
              `Key ${error.staged.kid} is already staged and becomes current at ${error.staged.promote_at}. ` +
                'Rotate again after that, or with "immediate": true in an emergency.',
            );
          }
          await audit(tx, ctx, {
            tenant,
            action: immediate ? 'keys.rotate_immediately' : 'keys.rotate',
            target: { type: 'signing_key', id: key.kid },
            before: result.before,
            after: result.after,
          });
          const keys = await listSigningKeys(tx, tenant.id);
          return { key: keys.find((k) => k.kid === key.kid), retired: keys.filter((k) => result.before.some((b) => b.kid === k.kid)) };
        });
      },
    }),

    adminRoute({
      method: 'post',
      path: '/key-encryption-key/rotate',
      operationId: 'rotateKeyEncryptionKey',
      summary: 'Re-encrypt every private signing key under the current key-encryption key',
      tags,
      responses: {
        200: {
          description: 'counts',
          schema: {
            type: 'object',
            properties: { tenants: { type: 'integer' }, reencrypted: { type: 'integer' }, already_current: { type: 'integer' } },
          },
        },
      },
      handler: async function rotateKeyEncryptionKey(ctx) {
        const result = await reencryptSigningKeys(db, deps.keyEncryption);
        await db.admin.scoped(null, (tx) =>
          audit(tx, ctx, {
            tenant: null,
            action: 'key_encryption_key.rotate',
            target: { type: 'key_encryption_key', id: deps.keyEncryption.currentKeyId },
            after: result,
          }),
        );
        ctx.body = { tenants: result.tenants, reencrypted: result.reencrypted, already_current: result.alreadyCurrent };
      },
    }),
  ];
}
