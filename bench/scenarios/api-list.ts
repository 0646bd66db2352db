/** api-list: GET /api/v1/employees?limit=50, the first page of the tenant's employees. */
import { apiScenario } from './api.ts';

const LIMIT = 50;

export const apiList = apiScenario({
  name: 'api-list',
  description: `GET /api/v1/employees?limit=${LIMIT} (keyset page in id order, ${LIMIT} of the tenant's employees, with a next link).`,
  path: () => `/api/v1/employees?limit=${LIMIT}`,
  varies: false,
  check: (body) => {
    const { data } = body as { data?: unknown[] };
    if (data?.length !== LIMIT) throw new Error(`expected ${LIMIT} employees, got ${JSON.stringify(body).slice(0, 200)}`);
  },
  target: '>= 0.8',
});
