import { describe, expect, it } from 'vitest';
import { IdDisagreements, WARN_EVERY_MS } from '../src/replica/id-disagreements.js';

describe('IdDisagreements', () => {
  const d = { chosenFrom: 'body field message_id', otherFrom: 'the message-id property', otherId: 'fresh' };

  it('counts every disagreement and warns at most once per window, with the count since the last warning', () => {
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const stats = { idDisagreements: 0 };
    let now = 1_000_000;
    const ids = new IdDisagreements({ warn: ((obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg })) as never }, stats, () => now);
    ids.note('a', d);
    for (let i = 0; i < 4; i++) {
      now += 1000;
      ids.note(`b${i}`, d);
    }
    expect(stats.idDisagreements).toBe(5);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.obj).toMatchObject({ id: 'a', otherId: 'fresh', count: 1 });
    expect(warnings[0]!.msg).toMatch(/ran under "a" \(body field message_id\), not "fresh" \(the message-id property\).*--id-from/);
    now += WARN_EVERY_MS;
    ids.note('c', d);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]!.obj).toMatchObject({ id: 'c', count: 5 });
    expect(stats.idDisagreements).toBe(6);
  });
});
