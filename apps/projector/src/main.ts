import 'reflect-metadata';
import { ProjectorProcess, runProcess } from '@custos/runtime';

/** Distributed mode: Kafka consumer group → read models (health and metrics on PORT, default 3002). */
void runProcess({ name: 'projector', providers: [ProjectorProcess] }, 3002);
