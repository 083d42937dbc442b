import 'reflect-metadata';
import { CONTEXTS } from '@custos/contexts';
import { RelayProcess, runProcess } from '@custos/runtime';

/** Distributed mode: drains the transactional outbox into Kafka (health and metrics on PORT, default 3001). */
void runProcess({ name: 'relay', contexts: CONTEXTS, providers: [RelayProcess] }, 3001);
