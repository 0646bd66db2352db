/**
 * The API references work in a real browser. Debian's Chromium, driven by playwright-core, opens a
 * tenant's /api/v1/docs under its *.localhost host name (Chromium resolves *.localhost to loopback
 * itself), authorizes with the demo client's credentials (Swagger UI posts them cross-origin, with
 * client_secret_basic, to the tenant's token endpoint on the authentication host: the CORS path),
 * runs "Try it out" on GET /employees and sees a 200 with rows. The admin reference does the same
 * with the platform credentials and GET /tenants.
 *
 * Without /usr/bin/chromium the test is skipped (npm test on a machine without a browser); under
 * CI (CI=true, which .ci/run sets after installing chromium) it fails instead. PGlite only: the
 * browser path does not depend on the database, and the API tests cover both databases.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { platformCredential } from '../helpers/admin.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const IN_CI = process.env.CI !== undefined && process.env.CI !== 'false' && process.env.CI !== '0';
const STEP_TIMEOUT_MS = 60_000; // a shared two-core machine: Swagger UI's bundle alone takes seconds to parse

/** Playwright adds --headless (headless: true) and the --user-data-dir of launchPersistentContext. */
const CHROMIUM_ARGS = [
  '--no-sandbox', // CI runs as root, where Chromium's sandbox refuses to start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking', // nothing but our loopback server is contacted
  '--disable-component-update',
  '--disable-sync',
];

interface Flow {
  readonly docsUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Swagger UI's id of the operation's block: operations-<tag>-<operationId> */
  readonly operation: string;
}

/** Authorize with client credentials, Try it out on one GET, Execute: the status and body shown. */
async function authorizeAndTry(page: Page, flow: Flow): Promise<{ status: string; body: string; tokenStatus: number }> {
  await page.goto(flow.docsUrl);
  await page.locator('.btn.authorize').first().click();
  await page.fill('#client_id_clientCredentials', flow.clientId);
  await page.fill('#client_secret_clientCredentials', flow.clientSecret);
  const tokenResponse = page.waitForResponse(
    (response) => response.url().endsWith('/connect/token') && response.request().method() === 'POST',
  );
  await page.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click();
  const tokenStatus = (await tokenResponse).status();
  // once authorized the flow's section offers "Logout" (Remove authorization); an error shows in the modal instead
  await page.getByRole('button', { name: 'Remove authorization' }).waitFor();
  await page.getByRole('button', { name: 'Close' }).first().click();

  const operation = page.locator(`#${flow.operation}`);
  await operation.locator('.opblock-summary').first().click();
  await operation.getByRole('button', { name: 'Try it out' }).click();
  await operation.getByRole('button', { name: 'Execute' }).click();
  const status = operation.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor();
  const body = await operation.locator('.live-responses-table .response-col_description pre').first().innerText();
  return { status: (await status.innerText()).trim(), body, tokenStatus };
}

describe('API references in Chromium', () => {
  let server: TestServer | undefined;
  let context: BrowserContext | undefined;
  let artifacts: string | undefined;
  let failed = false;

  afterAll(async () => {
    await context?.close();
    await server?.close();
    // the profile always goes; a failure's screenshots stay for whoever reads the error
    if (artifacts && !failed) fs.rmSync(artifacts, { recursive: true, force: true });
  });

  /** The browser and server, once; skipped (or failed, in CI) without Chromium. */
  async function open(skip: (note: string) => never): Promise<{ page: Page; server: TestServer }> {
    if (!fs.existsSync(CHROMIUM)) {
      if (IN_CI) throw new Error(`${CHROMIUM} is missing but CI is set: .ci/run installs Debian's chromium (apt-get install chromium)`);
      const reason = `skipped: ${CHROMIUM} is missing (apt-get install chromium runs this test)`;
      process.stderr.write(`${reason}\n`); // the default reporter does not print a skip's note
      skip(reason);
    }
    server ??= await startTestServer('pglite');
    if (!context) {
      artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-browser-'));
      context = await chromium.launchPersistentContext(path.join(artifacts, 'profile'), {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: STEP_TIMEOUT_MS,
      });
      context.setDefaultTimeout(STEP_TIMEOUT_MS);
    }
    return { page: await context.newPage(), server };
  }

  /** Runs a flow; on failure keeps a screenshot and names it in the error. */
  async function run(page: Page, name: string, flow: Flow) {
    try {
      return await authorizeAndTry(page, flow);
    } catch (error) {
      failed = true;
      const shot = path.join(artifacts ?? os.tmpdir(), `${name}.png`);
      await page.screenshot({ path: shot }).catch(() => {});
      throw new Error(`${(error as Error).message}\n(screenshot: ${shot})`, { cause: error });
    } finally {
      await page.close();
    }
  }

  it('authorizes on a tenant’s /api/v1/docs and lists its employees with Try it out', { timeout: 300_000 }, async ({ skip }) => {
    const { page, server } = await open(skip);
    const acme = server.credential('sandbox', 'acme');
    const docsUrl = `${acme.api_base}/docs`;
    expect(new URL(docsUrl).hostname).toBe('acme.connect-sandbox.localhost');
    const result = await run(page, 'api-docs', {
      docsUrl,
      clientId: acme.client_id,
      clientSecret: acme.client_secret,
      operation: 'operations-Employee-listEmployees',
    });
    expect(result.tokenStatus).toBe(200);
    expect(result.status).toBe('200');
    const list = JSON.parse(result.body) as { data: { employee_number: string }[] };
    expect(list.data.length).toBeGreaterThan(0);
    expect(list.data[0]?.employee_number).toMatch(/^A-\d+$/);
  });

  it('authorizes on admin.<domain>/v1/docs and lists tenants with Try it out', { timeout: 300_000 }, async ({ skip }) => {
    const { page, server } = await open(skip);
    const admin = platformCredential(server, 'sandbox');
    const result = await run(page, 'admin-docs', {
      docsUrl: `${admin.admin_api}/docs`,
      clientId: admin.client_id,
      clientSecret: admin.client_secret,
      operation: 'operations-Tenants-listTenants',
    });
    expect(result.tokenStatus).toBe(200);
    expect(result.status).toBe('200');
    const list = JSON.parse(result.body) as { data: { slug: string; environment: string }[] };
    expect(list.data.map((t) => t.slug)).toEqual(expect.arrayContaining(['acme', 'globex']));
    expect(list.data.every((t) => t.environment === 'sandbox')).toBe(true);
  });
});
