import 'reflect-metadata';
import { CONTEXTS } from '@custos/contexts';
import { ProjectorProcess, runProcess } from '@custos/runtime';

/** Distributed mode: Kafka consumer group → read models (health and metrics on PORT, default 3002). */
void runProcess({ name: 'projector', contexts: CONTEXTS, providers: [ProjectorProcess] }, 3002);
