import type { Detection } from './domain/rules.js';
import { generateMonth as generate } from './generator.js';
import { SentinelCore } from './sentinel-runner.js';

describe('the sentinel on a generated month of a hospital', () => {
  it('raises exactly one incident per planted case, none for the clean actors, and the same again on a replay', () => {
    const { events, expected } = generate(20261127);
    expect(events.length).toBeGreaterThan(50_000);
    const replay = () => {
      const core = new SentinelCore();
      const raised: Array<{ detection: Detection; incidentId: string; opens: boolean }> = [];
      for (const e of events) raised.push(...core.evaluate(e));
      return raised;
    };
    const first = replay();
    const incidents = first.filter((r) => r.opens);
    const bySubject = Object.fromEntries(incidents.map((r) => [`${r.detection.subject.kind}:${r.detection.subject.id}`, r.detection.rule]));
    expect(bySubject).toEqual(expected);
    expect(incidents).toHaveLength(7);
    // The snooper's case names its 40 patients; the VIP's its six staff.
    const snoop = first.filter((r) => r.detection.subject.id === 'u007').flatMap((r) => r.detection.patientIds);
    expect(new Set(snoop).size).toBeGreaterThanOrEqual(30);
    expect(first.find((r) => r.detection.subject.id === 'p4500')?.detection.actorIds).toEqual(['u120', 'u121', 'u122', 'u123', 'u124']);
    // A replay raises the same detections with the same ids: recorded once, nothing new.
    expect(replay().map((r) => [r.detection.detectionId, r.incidentId])).toEqual(first.map((r) => [r.detection.detectionId, r.incidentId]));
  });
});
