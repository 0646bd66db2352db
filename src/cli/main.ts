/** Process entry point of the tenant-connect CLI: `node src/cli/main.ts <command> [options]`. */
import { runCli } from './run.ts';

// `tenant-connect … | head` closes stdout early: that is not a failure
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
