/** Every scenario, in the order `npm run bench` runs them. */
import type { Scenario } from '../scenario.ts';
import { apiGet } from './api-get.ts';
import { apiGetDpop } from './api-get-dpop.ts';
import { apiGetRevoked } from './api-get-revoked.ts';
import { apiList } from './api-list.ts';
import { batch } from './batch.ts';
import { cores } from './cores.ts';
import { dataGrowth } from './data-growth.ts';
import { tokenAuthEvents } from './token-auth-events.ts';
import { tokenCold } from './token-cold.ts';
import { tokenManyTenants } from './token-many-tenants.ts';
import { tokenPrivateKeyJwt } from './token-private-key-jwt.ts';
import { tokenSingle } from './token-single.ts';
import { webhooks } from './webhooks.ts';

export const SCENARIOS: readonly Scenario[] = [
  tokenSingle,
  tokenManyTenants,
  tokenCold,
  tokenAuthEvents,
  tokenPrivateKeyJwt,
  apiGet,
  apiGetDpop,
  apiGetRevoked,
  apiList,
  batch,
  webhooks,
  cores,
  dataGrowth,
];
