/** Every command, in the order help lists them. */
import type { Command } from '../command.ts';
import { auditCommands } from './audit.ts';
import { authEventCommands } from './auth-events.ts';
import { clientHealthCommands } from './client-health.ts';
import { clientCommands } from './clients.ts';
import { keyCommands } from './keys.ts';
import { tenantCommands } from './tenants.ts';
import { tokenCommands } from './tokens.ts';
import { usageCommands } from './usage.ts';
import { verifyCommands } from './verify.ts';
import { webhookCommands } from './webhooks.ts';
import { workerCommands } from './worker.ts';

export const COMMANDS: readonly Command[] = [
  ...tenantCommands,
  ...clientCommands,
  ...clientHealthCommands,
  ...tokenCommands,
  ...keyCommands,
  ...webhookCommands,
  ...auditCommands,
  ...authEventCommands,
  ...usageCommands,
  ...workerCommands,
  ...verifyCommands,
];
