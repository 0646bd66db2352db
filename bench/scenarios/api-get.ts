/** api-get: GET /api/v1/employees/<id>, a random one of the tenant's employees each time. */
import { apiScenario } from './api.ts';

export const apiGet = apiScenario({
  name: 'api-get',
  description: 'GET /api/v1/employees/{id} (point query by primary key), a random employee of the tenant each request.',
  path: (ids) => `/api/v1/employees/${ids[Math.floor(Math.random() * ids.length)]}`,
  varies: true,
  check: (body) => {
    if (typeof (body as { id?: unknown }).id !== 'string') throw new Error(`not an employee: ${JSON.stringify(body)}`);
  },
  target: '>= 0.8',
});
