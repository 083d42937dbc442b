import 'reflect-metadata';
import { CONTEXTS } from '@custos/contexts';
import { runProcess } from '@custos/runtime';
import { SentinelHost } from '@custos/sentinel';

/**
 * Distributed mode: the sentinel (health and metrics on PORT, default 3003). Its own Kafka
 * consumer group wakes it; it reads the log in global order from the store, evaluates the
 * rules and records detections and incidents. Run one: a second would evaluate the same log
 * and find every detection already recorded.
 */
void runProcess({ name: 'sentinel', contexts: CONTEXTS, providers: [SentinelHost] }, 3003);
