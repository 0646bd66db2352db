/**
 * /v1/tenants/{slug}/keys: a tenant's signing keys, and their rotation (staged, or immediate for
 * an emergency); /v1/key-encryption-key/rotate re-encrypts every private key under the current
 * key-encryption key. Platform admins only.
 */
import type Router from '@koa/router';
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
import { compileBodyValidator, compileQueryValidator } from '../http/validation.ts';
import { ApiError } from '../http/problem.ts';
import { effectiveSettings } from '../tenancy/tenant-settings.ts';
import { ADMIN_SCHEMAS } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, type AdminState, audit, findRouteTenant, requirePlatformAdmin } from './admin-steps.ts';

export function registerKeyRoutes(router: Router<AdminState>, deps: AdminDeps) {
  const { db, config } = deps;
  const validateRotation = compileBodyValidator(ADMIN_SCHEMAS.KeyRotation);
  const validateNoQuery = compileQueryValidator({ type: 'object', additionalProperties: false, properties: {} });

  router.get('/tenants/:slug/keys', async function listKeys(ctx: AdminContext) {
    validateNoQuery(ctx.query);
    const tenant = await findRouteTenant(db.owner, ctx);
    ctx.body = { data: await db.owner.scoped(tenant.id, (tx) => listSigningKeys(tx, tenant.id)), next: null };
  });

  router.post('/tenants/:slug/keys/rotate', async function rotateKeys(ctx: AdminContext) {
    requirePlatformAdmin(ctx);
    const body = validateRotation(ctx.state.body ?? {});
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
    const tenant = await findRouteTenant(db.owner, ctx);
    // a new algorithm in the settings takes effect here, with the next key
    const alg = (body.alg as SigningAlgorithm | undefined) ?? effectiveSettings(tenant.settings).signing_alg;
    const key = await generateSigningKey(alg); // RSA takes ~140 ms: outside the transaction
    ctx.body = await db.owner.scoped(tenant.id, async (tx) => {
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
  });

  router.post('/key-encryption-key/rotate', async function rotateKeyEncryptionKey(ctx: AdminContext) {
    requirePlatformAdmin(ctx);
    const result = await reencryptSigningKeys(db, deps.keyEncryption);
    await db.owner.scoped(null, (tx) =>
      audit(tx, ctx, {
        tenant: null,
        action: 'key_encryption_key.rotate',
        target: { type: 'key_encryption_key', id: deps.keyEncryption.currentKeyId },
        after: result,
      }),
    );
    ctx.body = { tenants: result.tenants, reencrypted: result.reencrypted, already_current: result.alreadyCurrent };
  });
}
