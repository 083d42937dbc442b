/**
 * Kafka topics, named in one place. A stream's category (the part of its id before the first
 * '-') picks its topic; messages are keyed by patient id where the event has one, else by
 * stream id, so one patient's events stay in order on one partition.
 */
export const TOPICS = {
  access: 'custos.access',
  consent: 'custos.consent',
  annotation: 'custos.annotation',
  image: 'custos.image',
  review: 'custos.review',
  incident: 'custos.incident',
  system: 'custos.system',
} as const;

export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

/** Every topic, with the deployment's prefix (tests use a unique prefix per run). */
export function allTopics(prefix = ''): string[] {
  return Object.values(TOPICS).map((t) => prefix + t);
}

export function topicFor(streamId: string, prefix = ''): string {
  const category = streamId.split('-', 1)[0] as keyof typeof TOPICS;
  return prefix + (Object.hasOwn(TOPICS, category) ? TOPICS[category] : TOPICS.system);
}
