/**
 * How a load spreads over many tenants: uniformly, or Zipf-like (the k-th most active tenant gets
 * a share proportional to 1/k^s), and what an LRU pool of a given size makes of that (the share of
 * requests that find their Provider pooled), by simulation.
 */

/** A deterministic PRNG (mulberry32), so every run ranks the same tenants the same way. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function uniform(n: number, random: () => number = Math.random): () => number {
  return () => Math.floor(random() * n);
}

/**
 * Indices 0…n-1 with P(rank k) ∝ 1/k^s; which index holds which rank is a fixed random
 * permutation, so the busiest tenants are not simply the first ones provisioned.
 */
export function zipf(n: number, s: number, random: () => number = Math.random, seed = 1): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** s;
  for (let k = 0; k < n; k++) cdf[k] = (cdf[k] as number) / sum;
  const order = Array.from({ length: n }, (_, i) => i);
  const shuffle = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return order[lo] as number;
  };
}

/** The share of `draws` requests (after as many to warm up) that an LRU of `size` answers from memory. */
export function lruHitRate(pick: () => number, size: number, draws = 200_000): number {
  const lru = new Map<number, true>();
  let hits = 0;
  for (let i = 0; i < 2 * draws; i++) {
    const key = pick();
    const hit = lru.delete(key);
    lru.set(key, true);
    if (lru.size > size) lru.delete(lru.keys().next().value as number);
    if (hit && i >= draws) hits++;
  }
  return hits / draws;
}
