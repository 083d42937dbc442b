import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult, HealthCheckService, type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { Database } from '@custos/event-store';
import { READINESS_PROBES, type ReadinessProbe } from '@custos/kernel';
import { Public } from './route-access.js';

const CHECKS = { type: 'object', additionalProperties: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['up', 'down'] }, message: { type: 'string' } } } };
const ALARMS = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['ok', 'raised'] }, message: { type: 'string' } },
  },
};
const HEALTH = { type: 'object', required: ['status', 'alarms'], properties: { status: { type: 'string', enum: ['ok', 'degraded'] }, info: CHECKS, error: CHECKS, details: CHECKS, alarms: ALARMS } };
const NOT_READY = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code', 'correlationId'],
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer', enum: [503] }, detail: { type: 'string' }, code: { type: 'string', enum: ['not-ready'] }, correlationId: { type: 'string' }, instance: { type: 'string' }, checks: CHECKS },
};

@ApiTags('operations')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    @Inject(Database) private readonly db: Database,
    @Inject(READINESS_PROBES) private readonly probes: ReadinessProbe[],
  ) {}

  @Get()
  @HealthCheck()
  @ApiOperation({
    summary: 'Readiness: the database and, in distributed mode, Kafka answer (503 otherwise)',
    description: 'While ready, alarms that need a person (quarantined events, witness refusal or lag, forged messages) answer 200 with `status: "degraded"`; `alarms` lists each alarm of the process, `ok` or `raised` with its message.',
  })
  @ApiResponse({ status: 200, description: 'ready (status up) or ready with an alarm raised (status degraded)', content: { 'application/json': { schema: HEALTH } } })
  @ApiResponse({ status: 503, description: 'problem+json, code not-ready, with each dependency under checks', content: { 'application/problem+json': { schema: NOT_READY } } })
  async ready(): Promise<Omit<HealthCheckResult, 'status'> & { status: HealthCheckResult['status'] | 'degraded'; alarms: Record<string, { status: 'ok' } | { status: 'raised'; message: string }> }> {
    const result = await this.health.check([() => this.check('database', () => this.db.ping()), ...this.probes.filter((p) => p.kind !== 'alarm').map((p) => () => this.check(p.name, () => p.check()))]);
    const alarms: Record<string, { status: 'ok' } | { status: 'raised'; message: string }> = {};
    for (const alarm of this.probes.filter((p) => p.kind === 'alarm')) {
      try {
        await withTimeout(alarm.check(), 2000);
        alarms[alarm.name] = { status: 'ok' };
      } catch (e) {
        alarms[alarm.name] = { status: 'raised', message: (e as Error).message };
      }
    }
    const raised = Object.values(alarms).some((a) => a.status === 'raised');
    return { ...result, status: raised ? 'degraded' : result.status, alarms };
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  @ApiResponse({ status: 200, description: 'up', content: { 'application/json': { schema: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  private async check(name: string, probe: () => Promise<void>): Promise<HealthIndicatorResult> {
    const session = this.indicator.check(name);
    try {
      await withTimeout(probe(), 2000);
      return session.up();
    } catch (e) {
      return session.down({ message: (e as Error).message });
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    p.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
