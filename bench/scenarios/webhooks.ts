/**
 * webhooks: what the outbox costs a 1,000-clocking batch, and how fast the delivery worker empties
 * it. Batches are sent one at a time, first with no subscription (events written, nothing to fan
 * out), then with one subscription matching clocking.created (each event fanned out to a delivery
 * in the batch's transaction, while the worker in the same process delivers). A receiver in this
 * process answers 204 to each signed POST; events/s is the number delivered over the time from
 * the first subscribed batch to the last delivery (10 + 10 batches; 3 + 3 with --quick).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { log } from '../console.ts';
import { fetchToken, loopbackRequest, type LoopbackRequest } from '../http.ts';
import { describeLatencies, timeSeries } from '../latency-series.ts';
import { type LatencySeries, NOT_MEASURED } from '../measurements.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio } from '../summary.ts';
import { authenticationHost, firstTenant, startOurs, tenantHost, tokenPath } from './servers.ts';

const ITEMS = 1000;
const DRAIN_TIMEOUT_MS = 300_000;

function batchBody(employeeIds: readonly string[], round: number): string {
  return JSON.stringify({
    items: Array.from({ length: ITEMS }, (_, i) => ({
      employee_id: employeeIds[i % employeeIds.length],
      timestamp: new Date(Date.UTC(2026, 0, 1) + (round * ITEMS + i) * 1000).toISOString().replace('Z', '+00:00'),
      direction: i % 2 ? 'out' : 'in',
      source_device: 'bench-webhooks',
    })),
  });
}

async function startReceiver() {
  let received = 0;
  let firstAt = 0;
  let lastAt = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      lastAt = performance.now();
      if (!firstAt) firstAt = lastAt;
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    state: () => ({ received, firstAt, lastAt }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const webhooks: Scenario = {
  name: 'webhooks',
  description: `${ITEMS}-clocking batches without and with a matching webhook subscription, and the events delivered per second to a local receiver.`,
  async run(context) {
    const receiver = await startReceiver();
    try {
      const ours = await startOurs(context, { tenants: 1, employees: context.settings.employees });
      const tenant = firstTenant(ours);
      const host = tenantHost(ours, tenant);
      const token = await fetchToken(
        ours.info.port,
        authenticationHost(ours),
        tokenPath(tenant),
        tenant.clientId,
        tenant.clientSecret,
        'clockings:write',
      );
      const credential = ours.info.admin;
      if (!credential) throw new Error('the server reported no platform admin client');
      const admin = new URL(credential.tokenEndpoint);
      const adminToken = await fetchToken(
        ours.info.port,
        admin.host,
        admin.pathname,
        credential.clientId,
        credential.clientSecret,
        'platform:admin',
      );
      const batches = context.settings.quick ? 3 : 10;
      let round = 0;
      const requests = (count: number): LoopbackRequest[] =>
        Array.from({ length: count }, () => ({
          port: ours.info.port,
          host,
          method: 'POST',
          path: '/api/v1/clockings/batch',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: batchBody(ours.info.employeeIds, (round += 1)),
        }));

      await timeSeries('warm-up', 0, ours.pid, requests(3));
      const unsubscribed = await timeSeries('no-subscription', 0, ours.pid, requests(batches));
      log(`  no subscription  ${batches} batches  p50 ${unsubscribed.series.p50} ms  p99 ${unsubscribed.series.p99} ms`);

      const adminApi = new URL(credential.adminApi);
      const created = await loopbackRequest({
        port: ours.info.port,
        host: adminApi.host,
        method: 'POST',
        path: `${adminApi.pathname}/tenants/${tenant.slug}/webhooks`,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: receiver.url, event_types: ['clocking.created'] }),
      });
      if (created.status !== 201) throw new Error(`creating the subscription failed: ${created.status} ${created.body}`);

      const started = performance.now();
      const subscribed = await timeSeries('subscribed', 0, ours.pid, requests(batches));
      log(`  subscribed       ${batches} batches  p50 ${subscribed.series.p50} ms  p99 ${subscribed.series.p99} ms`);
      const expected = batches * ITEMS;
      while (receiver.state().received < expected && performance.now() - started < DRAIN_TIMEOUT_MS) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const { received, lastAt } = receiver.state();
      if (received < expected) context.problems.push(`webhooks: ${received} of ${expected} events delivered within ${DRAIN_TIMEOUT_MS} ms`);
      const seconds = (lastAt - started) / 1000;
      const perSecond = received / seconds;
      log(`  delivered        ${received} events in ${seconds.toFixed(2)} s: ${perSecond.toFixed(0)} events/s`);
      for (const s of [unsubscribed, subscribed]) {
        if (s.series.non2xx > 0)
          context.problems.push(`webhooks ${s.series.variant}: ${s.series.non2xx} non-2xx (${JSON.stringify(s.statusCodes)})`);
      }
      const series: LatencySeries[] = [unsubscribed.series, subscribed.series];
      const delivery = { ...describeLatencies('delivery', 0, [seconds * 1000], { 204: received }), ...NOT_MEASURED };
      return {
        variants: [
          { name: 'no-subscription', description: `a ${ITEMS}-clocking batch writing ${ITEMS} outbox events that match no subscription` },
          {
            name: 'subscribed',
            description: `the same with one subscription to clocking.created: ${ITEMS} deliveries fanned out per batch`,
          },
          { name: 'delivery', description: `wall time from the first subscribed batch to the last of ${expected} events received` },
        ],
        loadRuns: [],
        latencySeries: [...series, delivery],
        comparisons: [
          compare('events delivered per second (one process, concurrency 32, receiver on loopback)', +perSecond.toFixed(0)),
          compare('p50 of a 1,000-item batch, events match no subscription (ms)', unsubscribed.series.p50),
          compare('p50 of a 1,000-item batch with a subscription, worker delivering (ms)', subscribed.series.p50),
          compare('p50 subscribed / no subscription', ratio(subscribed.series.p50, unsubscribed.series.p50)),
        ],
        notes: [
          'The batch scenario (same machine, before the outbox) is the reference for a batch without any outbox write.',
          ...(context.database.url ? [] : ['No Postgres: these are PGlite numbers (one connection shared by requests and the worker).']),
        ],
      };
    } finally {
      await receiver.close();
    }
  },
};
