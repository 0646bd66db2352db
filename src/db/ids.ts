/**
 * UUIDv7 (RFC 9562): a millisecond timestamp then randomness, so ids sort in creation order and
 * keyset pagination by id walks rows roughly as they were created.
 */
import { randomBytes } from 'node:crypto';

export function uuidv7(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const VARIANT = '89ab';

/**
 * UUIDv7s for many times at once, as uuidv7 makes them one by one, with one draw of randomness for
 * all: a draw per id (randomBytes(16)) was most of the CPU a batch of auth events cost.
 */
export function uuidv7s(times: readonly number[]): string[] {
  // 20 hex digits an id: 3 after the version, 1 for the variant's two random bits, 3 after it, 12 more
  const random = randomBytes(10 * times.length).toString('hex');
  return times.map((now, i) => {
    const time = now.toString(16).padStart(12, '0');
    const r = random.slice(20 * i, 20 * i + 20);
    const variant = VARIANT[Number.parseInt(r.charAt(3), 16) & 3] ?? '8';
    return `${time.slice(0, 8)}-${time.slice(8)}-7${r.slice(0, 3)}-${variant}${r.slice(4, 7)}-${r.slice(7, 19)}`;
  });
}
