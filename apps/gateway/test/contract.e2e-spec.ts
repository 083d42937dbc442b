import { Controller, Get, HttpCode, Post, Res } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { createLogger, loadConfig } from '@custos/platform';
import { createProcessApp, type HttpReply, Public } from '@custos/runtime';
import request from 'supertest';
import { contractChecker } from './contract.js';

const COUNT = { 'application/json': { schema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } } };

/** A process whose answers break its own document in each way the checker must notice. */
@Public()
@Controller('drift')
class DriftController {
  @Get('good')
  @ApiResponse({ status: 200, description: 'a count', content: COUNT })
  good() {
    return { n: 1 };
  }

  @Get('wrong-body')
  @ApiResponse({ status: 200, description: 'a count', content: COUNT })
  wrongBody() {
    return { n: 'one' };
  }

  @Post('undocumented-status')
  @HttpCode(202)
  @ApiResponse({ status: 200, description: 'a count', content: COUNT })
  status() {
    return { n: 1 };
  }

  @Get('wrong-type')
  @ApiResponse({ status: 200, description: 'a count', content: COUNT })
  wrongType(@Res({ passthrough: true }) res: HttpReply) {
    res.header('content-type', 'text/csv');
    return 'n\n1\n';
  }

  @Get('undocumented-header')
  @ApiResponse({ status: 200, description: 'a count', content: COUNT })
  header(@Res({ passthrough: true }) res: HttpReply) {
    res.header('etag', '"1"');
    return { n: 1 };
  }
}

describe('the contract check every gateway e2e spec runs (apps/gateway/test/contract.ts)', () => {
  let app: INestApplication;
  let checker: ReturnType<typeof contractChecker>;

  beforeAll(async () => {
    app = await createProcessApp({ name: 'drift', contexts: [], controllers: [DriftController] }, loadConfig({ DATA_DIR: 'memory://', LOG_LEVEL: 'silent' }), createLogger('silent'));
    checker = contractChecker(app);
    await app.init();
  });
  afterAll(async () => {
    await app.close();
  });

  it('passes answers that keep the document, and names each one that breaks it', async () => {
    const server = app.getHttpServer();
    await request(server).get('/drift/good').expect(200);
    await request(server).get('/health/live').expect(200);
    await request(server).get('/nowhere').expect(404);
    expect(checker.violations).toEqual([]);
    await request(server).get('/drift/wrong-body').expect(200);
    await request(server).post('/drift/undocumented-status').expect(202);
    await request(server).get('/drift/wrong-type').expect(200);
    await request(server).get('/drift/undocumented-header').expect(200);
    expect(checker.violations).toEqual([
      expect.stringMatching(/^GET \/drift\/wrong-body → 200 .*body does not match the schema: body\/n must be integer/),
      expect.stringMatching(/^POST \/drift\/undocumented-status → 202 .*status 202 is not documented/),
      expect.stringMatching(/^GET \/drift\/wrong-type → 200 .*content type text\/csv is not documented/),
      expect.stringMatching(/^GET \/drift\/undocumented-header → 200 .*header etag is not documented/),
    ]);
    expect(() => checker.assertClean()).toThrow(/4 answer\(s\) broke the OpenAPI contract/);
    checker.violations.length = 0;
  });
});
