/**
 * The floor phase in the bench's run list (bench/options.ts `--floor`, bench/run.ts configurations):
 * one floor next to each raw pooled phase, same routes, greeting, in-flight count and messages.
 */
import { describe, expect, it } from 'vitest';
import { BenchOptionsError, parseOptions } from '../../../bench/options.js';
import { configurations } from '../../../bench/run.js';

describe('--floor', () => {
  it('runs a floor next to every raw pooled phase by default, smoke included, shaped like it', () => {
    const list = configurations(parseOptions(['--smoke', '--messages=30', '--pooled-messages=40'], {}));
    const floors = list.filter((c) => c.kind === 'floor');
    expect(floors.map((c) => c.id)).toEqual(['floor-r1-delay', 'floor-r10-delay', 'floor-r1-no-delay', 'floor-r10-no-delay']);
    for (const floor of floors) {
      const pooled = list.find((c) => c.id === floor.id.replace('floor-', 'pooled-'))!;
      expect({ ...floor, id: pooled.id, kind: pooled.kind, label: pooled.label }).toEqual(pooled);
      expect(floor.label).toBe("floor: raw pooled + the worker's claim (4 conns/route, 10 in flight)");
      expect(floor.messages).toBe(40);
    }
  });

  it('follows each in-flight count of the network model', () => {
    const ids = configurations(parseOptions(['--routes=1', '--greeting=no-delay', '--in-flight=10,50', '--batch-sizes=100', '--auth-hook-tenants=none'], {})).map((c) => c.id);
    expect(ids.filter((id) => id.startsWith('floor-'))).toEqual(['floor-f10-r1-no-delay', 'floor-f50-r1-no-delay']);
  });

  it('--floor=none (or BENCH_FLOOR=none) skips it; anything else is refused', () => {
    expect(configurations(parseOptions(['--smoke', '--floor=none'], {})).some((c) => c.kind === 'floor')).toBe(false);
    expect(parseOptions([], { BENCH_FLOOR: 'none' }).floor).toBe(false);
    expect(parseOptions([], {}).floor).toBe(true);
    expect(() => parseOptions(['--floor=off'], {})).toThrow(BenchOptionsError);
    expect(() => parseOptions(['--floor=off'], {})).toThrow('--floor / BENCH_FLOOR must be on or none (got "off")');
  });
});
