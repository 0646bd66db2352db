/**
 * What `verify` sends and what it makes of the answer: one request (a network failure is an
 * observation, not a crash), a one-line description of the answer for the table, and the
 * comparison of two error bodies that must not tell a foreign id from a missing one.
 */
import { CliError } from '../errors.ts';
import type { HttpClient, HttpResponse } from '../http.ts';

export interface Observation {
  /** 0 when no answer came */
  readonly status: number;
  readonly headers: HttpResponse['headers'];
  readonly body: string;
  /** the body parsed, when it is JSON */
  readonly json: unknown;
  /** why no answer came */
  readonly error?: string;
}

export interface ProbeRequest {
  readonly method?: string;
  readonly url: string;
  /** sent as `Authorization: Bearer …` */
  readonly token?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

const TIMEOUT_MS = 15_000;

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

export async function send(http: HttpClient, request: ProbeRequest): Promise<Observation> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...request.headers };
  if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
  try {
    const response = await http({
      method: request.method ?? 'GET',
      url: request.url,
      headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      timeoutMs: TIMEOUT_MS,
    });
    return { ...response, json: parseJson(response.body) };
  } catch (error) {
    if (error instanceof CliError) return { status: 0, headers: {}, body: '', json: undefined, error: error.message };
    throw error;
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** `401 invalid_token`, `400 tenant-in-request`, `200`, `no answer: …` */
export function describe(observation: Observation): string {
  if (observation.status === 0) return `no answer: ${observation.error ?? 'unknown error'}`;
  const challenge = String(observation.headers['www-authenticate'] ?? '');
  const bearerError = /\berror="([^"]+)"/.exec(challenge)?.[1];
  const body = asRecord(observation.json);
  const problemType = typeof body?.type === 'string' ? body.type.split('/').pop() : undefined;
  const oauthError = typeof body?.error === 'string' ? body.error : undefined;
  const reason = bearerError ?? oauthError ?? problemType;
  return reason ? `${observation.status} ${reason}` : String(observation.status);
}

/** Members that differ per request by design and say nothing about the resource. */
const VOLATILE_MEMBERS = new Set(['instance', 'request_id', 'requestId', 'trace_id', 'traceId', 'correlation_id', 'timestamp']);

/** The body with the id that was asked for written as `{id}` (echoing what the caller sent leaks nothing) and volatile members dropped. */
export function normalizedErrorBody(observation: Observation, requestedId: string): string {
  const text = observation.body.split(requestedId).join('{id}');
  const parsed = asRecord(parseJson(text));
  if (!parsed) return text;
  const kept = Object.keys(parsed)
    .filter((key) => !VOLATILE_MEMBERS.has(key))
    .sort()
    .map((key) => [key, parsed[key]]);
  return JSON.stringify(Object.fromEntries(kept));
}

/** Whether a foreign id's answer is indistinguishable from a missing id's: same status, type and body. */
export function sameAnswer(
  foreign: Observation,
  foreignId: string,
  missing: Observation,
  missingId: string,
): { readonly same: boolean; readonly difference?: string } {
  if (foreign.status !== missing.status) return { same: false, difference: `status ${foreign.status} vs ${missing.status}` };
  const type = (o: Observation) => String(o.headers['content-type'] ?? '').split(';')[0];
  if (type(foreign) !== type(missing)) return { same: false, difference: `content-type ${type(foreign)} vs ${type(missing)}` };
  if (normalizedErrorBody(foreign, foreignId) !== normalizedErrorBody(missing, missingId))
    return { same: false, difference: 'bodies differ' };
  return { same: true };
}

/** Names of the JSON members (or headers) whose value contains `needle`: where a forged host was reflected. */
export function reflections(observation: Observation, needle: string): string[] {
  const lower = needle.toLowerCase();
  const found: string[] = [];
  for (const [name, value] of Object.entries(observation.headers)) {
    if (String(value).toLowerCase().includes(lower)) found.push(`header ${name}`);
  }
  const body = asRecord(observation.json);
  if (body) {
    for (const [key, value] of Object.entries(body)) if (JSON.stringify(value).toLowerCase().includes(lower)) found.push(key);
  } else if (observation.body.toLowerCase().includes(lower)) {
    found.push('body');
  }
  return found;
}
