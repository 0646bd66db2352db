/**
 * The CLI's two families of failure: a usage error (exit 2: the command line is wrong, nothing was
 * sent) and a run error (exit 1: the server, the network or the credentials said no). Each renders
 * as one line, plus the problem document's `errors` list when there is one.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  override name = 'UsageError';
  /** the command whose help to point at, e.g. 'tenants create' ('' = the top level) */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

export class CliError extends Error {
  override name = 'CliError';
  /** extra lines printed under the message, indented */
  readonly details: readonly string[];
  constructor(message: string, details: readonly string[] = []) {
    super(message);
    this.details = details;
  }
}

/** An RFC 9457 problem document, as the admin API sends it. */
export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly errors?: readonly { readonly pointer?: string; readonly detail?: string }[];
}

export class ApiProblemError extends CliError {
  override name = 'ApiProblemError';
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(problemMessage(status, problem), problemDetails(problem));
    this.status = status;
    this.problem = problem;
  }
}

function problemMessage(status: number, problem: Problem): string {
  const title = problem.title ?? `HTTP ${status}`;
  const head = `${title} (${status})`;
  return problem.detail ? `${head}: ${problem.detail}` : head;
}

function problemDetails(problem: Problem): string[] {
  if (!Array.isArray(problem.errors)) return [];
  const errors = problem.errors.filter((e) => typeof e === 'object' && e !== null);
  // a lone error the detail already spells out adds nothing
  const only = errors.length === 1 ? errors[0] : undefined;
  if (only?.detail && problem.detail?.includes(only.detail)) return [];
  return errors.map((e) => '- ' + (e.pointer !== undefined && e.pointer !== '' ? `${e.pointer}: ${e.detail ?? ''}` : (e.detail ?? '')));
}

export function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && ('title' in value || 'detail' in value || 'type' in value);
}

/** The lines a failure prints on stderr. */
export function renderError(error: unknown, program = 'tenant-connect'): { lines: string[]; exitCode: number } {
  if (error instanceof UsageError) {
    const help = error.command === undefined ? `${program} --help` : `${program} ${error.command ? `${error.command} ` : ''}--help`;
    return { lines: [`error: ${error.message}`, `Run '${help}' for usage.`], exitCode: EXIT_USAGE };
  }
  if (error instanceof CliError) {
    return { lines: [`error: ${error.message}`, ...error.details.map((d) => `  ${d}`)], exitCode: EXIT_FAILURE };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { lines: [`error: unexpected failure: ${message}`], exitCode: EXIT_FAILURE };
}
