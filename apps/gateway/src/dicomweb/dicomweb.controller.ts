import { applyDecorators, Controller, Get, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiQuery, ApiResponse, type ApiResponseOptions, ApiTags } from '@nestjs/swagger';
import { DicomwebGateway, type Purposeful, purposeOf, type RetrieveTarget, type StreamingAnswer, UnsupportedMediaError } from '@custos/dicomweb';
import { ValidationError } from '@custos/errors';
import { type HttpReply, type HttpRequest, Requires } from '@custos/runtime';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiProblems, problemSchema } from '../openapi.js';

const DICOM_JSON = { 'application/dicom+json': { schema: { type: 'array', items: { type: 'object' } } } };
const MULTIPART = { 'multipart/related': { schema: { type: 'string', format: 'binary' } } };
const SEARCH_PROBLEMS = { 400: ['purpose-required', 'bad-purpose', 'purpose-conflict', 'bad-uid', 'too-many-keys', 'bad-query-key', 'bad-query-value', 'bad-query', 'query-key-not-allowed'], 503: ['no-archive', 'archive-unavailable'], 504: ['archive-timeout'] };
const RETRIEVE_PROBLEMS = {
  400: ['purpose-required', 'bad-purpose', 'purpose-conflict', 'bad-uid', 'bad-frames', 'bad-accept'],
  403: ['access-denied', 'consent-not-granted'],
  404: ['unknown-resource', 'not-in-archive'],
  406: ['not-acceptable'],
  409: ['study-patient-mismatch'],
  503: ['no-archive', 'archive-unavailable', 'deidentification-unavailable'],
  504: ['archive-timeout'],
};
/** 409: refused before storing (problem+json), or nothing stored by the archive (the standard's answer, FailedSOPSequence). */
const STOW_CONFLICT = {
  status: 409,
  description: 'refused before anything was stored (problem+json), or the archive stored none of the instances (DICOM JSON with FailedSOPSequence)',
  content: { 'application/problem+json': { schema: problemSchema(['study-patient-mismatch', 'wrong-study', 'duplicate-instance']) }, 'application/dicom+json': { schema: { type: 'object' } } },
};
const PURPOSE_QUERY = ApiQuery({ name: 'purpose', required: false, description: 'purpose of use (TREATMENT, RESEARCH, AI_TRAINING, OPERATIONS, PUBLIC_HEALTH, or its HL7 code) when the token carries no purpose_of_use; or the X-Purpose-Of-Use header' });

/** A QIDO-RS route: any caller may search (each study shown is a decision), with its answers. */
const Qido = (summary: string) =>
  applyDecorators(
    Requires('create', 'AccessRequest'),
    ApiOperation({ summary }),
    PURPOSE_QUERY,
    ApiResponse({ status: 200, description: 'matches, DICOM JSON', content: DICOM_JSON }),
    ApiResponse({ status: 204, description: 'no match' }),
    ApiProblems(SEARCH_PROBLEMS),
  );

/** A WADO-RS route: any caller may ask (the decision decides), with its answers. */
const Wado = (summary: string, description: string, content: NonNullable<ApiResponseOptions['content']>) =>
  applyDecorators(Requires('create', 'AccessRequest'), ApiOperation({ summary }), PURPOSE_QUERY, ApiResponse({ status: 200, description, content }), ApiProblems(RETRIEVE_PROBLEMS));

/** A STOW-RS route: the roles that may register images, a multipart/related body, the standard's answers. */
const Stow = (summary: string) =>
  applyDecorators(
    Requires('create', 'Image'),
    ApiOperation({ summary }),
    ApiQuery({ name: 'dataset', required: false }),
    ApiConsumes('multipart/related'),
    ApiBody({ schema: { type: 'string', format: 'binary' } }),
    ApiResponse({ status: 200, description: 'all stored', content: { 'application/dicom+json': { schema: { type: 'object' } } } }),
    ApiResponse({ status: 202, description: 'some stored, some failed (FailedSOPSequence)', content: { 'application/dicom+json': { schema: { type: 'object' } } } }),
    ApiResponse(STOW_CONFLICT),
    ApiProblems({
      400: ['bad-multipart', 'too-many-parts', 'not-dicom', 'no-patient-id', 'patient-id-unusable', 'foreign-issuer', 'bad-uids', 'bad-uid', 'bad-dataset', 'duplicate-instance', 'bad-image', 'bad-study'],
      413: ['payload-too-large'],
      415: ['unsupported-media-type'],
      503: ['no-archive', 'archive-unavailable'],
      504: ['archive-timeout'],
    }),
  );

/**
 * DICOMweb (PS3.18) through Custos, in front of the archive: QIDO-RS, WADO-RS and STOW-RS with
 * the standard's paths, media types and status codes. Every search and retrieve is decided and
 * recorded before the first byte of the answer (docs/dicomweb.md). Thin: the work is in
 * libs/dicomweb; this class only reads the request and streams the answer.
 */
@ApiTags('dicomweb')
@ApiBearerAuth()
@Controller('dicom-web')
export class DicomwebController {
  constructor(@Inject(DicomwebGateway) private readonly gateway: DicomwebGateway) {}

  // ------------------------------------------------------------ QIDO-RS

  @Get('studies')
  @Qido('QIDO-RS: search for studies; only studies whose patient permits the purpose are listed (each a recorded decision), withheld ones are counted in the record, never returned')
  searchStudies(@Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.search(req, reply, caller, 'studies', {});
  }

  @Get('series')
  @Qido('QIDO-RS: search for series across studies (filtered as studies are)')
  searchSeries(@Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.search(req, reply, caller, 'series', {});
  }

  @Get('instances')
  @Qido('QIDO-RS: search for instances across studies (filtered as studies are)')
  searchInstances(@Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.search(req, reply, caller, 'instances', {});
  }

  @Get('studies/:study/series')
  @Qido("QIDO-RS: search for a study's series")
  searchStudySeries(@Param('study') study: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.search(req, reply, caller, 'series', { studyUid: study });
  }

  @Get('studies/:study/instances')
  @Qido("QIDO-RS: search for a study's instances")
  searchStudyInstances(@Param('study') study: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.search(req, reply, caller, 'instances', { studyUid: study });
  }

  @Get('studies/:study/series/:series/instances')
  @Qido("QIDO-RS: search for a series' instances")
  searchSeriesInstances(@Param('study') study: string, @Param('series') series: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.search(req, reply, caller, 'instances', { studyUid: study, seriesUid: series });
  }

  // ------------------------------------------------------------ WADO-RS

  @Get('studies/:study')
  @Wado('WADO-RS: retrieve a study (multipart/related; type="application/dicom"), decided and recorded first; de-identified for the purposes that ask for it', 'the instances', MULTIPART)
  study(@Param('study') study: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.retrieve(req, reply, caller, { level: 'study', studyUid: study });
  }

  @Get('studies/:study/metadata')
  @Wado("WADO-RS: a study's metadata (DICOM JSON)", 'metadata', DICOM_JSON)
  studyMetadata(@Param('study') study: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.retrieve(req, reply, caller, { level: 'metadata', studyUid: study });
  }

  @Get('studies/:study/series/:series')
  @Wado('WADO-RS: retrieve a series', 'the instances', MULTIPART)
  series(@Param('study') study: string, @Param('series') series: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.retrieve(req, reply, caller, { level: 'series', studyUid: study, seriesUid: series });
  }

  @Get('studies/:study/series/:series/metadata')
  @Wado("WADO-RS: a series' metadata", 'metadata', DICOM_JSON)
  seriesMetadata(@Param('study') study: string, @Param('series') series: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.retrieve(req, reply, caller, { level: 'metadata', studyUid: study, seriesUid: series });
  }

  @Get('studies/:study/series/:series/instances/:instance')
  @Wado('WADO-RS: retrieve an instance', 'the instance', MULTIPART)
  instance(@Param('study') study: string, @Param('series') series: string, @Param('instance') instance: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.retrieve(req, reply, caller, { level: 'instance', studyUid: study, seriesUid: series, instanceUid: instance });
  }

  @Get('studies/:study/series/:series/instances/:instance/metadata')
  @Wado("WADO-RS: an instance's metadata", 'metadata', DICOM_JSON)
  instanceMetadata(@Param('study') study: string, @Param('series') series: string, @Param('instance') instance: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.retrieve(req, reply, caller, { level: 'metadata', studyUid: study, seriesUid: series, instanceUid: instance });
  }

  @Get('studies/:study/series/:series/instances/:instance/frames/:frames')
  @Wado("WADO-RS: an instance's frames (pixel data, unchanged by de-identification)", 'the frames', MULTIPART)
  frames(@Param('study') study: string, @Param('series') series: string, @Param('instance') instance: string, @Param('frames') frames: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.retrieve(req, reply, caller, { level: 'frames', studyUid: study, seriesUid: series, instanceUid: instance, frames });
  }

  @Get('studies/:study/series/:series/instances/:instance/rendered')
  @Wado('WADO-RS: an instance rendered (image/jpeg, image/png), where the archive supports it', 'the rendered image', { 'image/jpeg': { schema: { type: 'string', format: 'binary' } }, 'image/png': { schema: { type: 'string', format: 'binary' } } })
  rendered(@Param('study') study: string, @Param('series') series: string, @Param('instance') instance: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext) {
    return this.retrieve(req, reply, caller, { level: 'rendered', studyUid: study, seriesUid: series, instanceUid: instance });
  }

  // ------------------------------------------------------------ STOW-RS

  @Post('studies')
  @Stow('STOW-RS: store instances (multipart/related; type="application/dicom"); each stored instance is registered (ImageRegistered, its study bound to its patient). ?dataset= names the dataset.')
  store(@Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext, @Query('dataset') dataset?: unknown) {
    return this.stow(req, reply, caller, undefined, dataset);
  }

  @Post('studies/:study')
  @Stow('STOW-RS: store instances of one study (every part must belong to it)')
  storeInStudy(@Param('study') study: string, @Req() req: HttpRequest, @Res() reply: HttpReply, @Caller() caller: CallerContext, @Query('dataset') dataset?: unknown) {
    return this.stow(req, reply, caller, study, dataset);
  }

  // ------------------------------------------------------------ transport

  private purpose(req: HttpRequest, caller: CallerContext): Purposeful {
    this.gateway.requireArchive();
    return purposeOf(caller.principal.purposeOfUse, req.query.purpose, req.headers['x-purpose-of-use']);
  }

  private async search(req: HttpRequest, reply: HttpReply, caller: CallerContext, level: 'studies' | 'series' | 'instances', scope: { studyUid?: string; seriesUid?: string }) {
    const purpose = this.purpose(req, caller);
    const items = await this.gateway.search(level, scope, req.query, purpose, caller.principal, caller.context, baseUrlOf(req));
    if (items.length === 0) return reply.status(204).send();
    return reply.status(200).header('content-type', 'application/dicom+json').send(JSON.stringify(items));
  }

  private async retrieve(req: HttpRequest, reply: HttpReply, caller: CallerContext, target: RetrieveTarget) {
    const purpose = this.purpose(req, caller);
    const answer: StreamingAnswer = await this.gateway.retrieve(target, req.headers.accept, purpose, caller.principal, caller.context, baseUrlOf(req));
    // The decision is in the log; what went out is recorded once the stream ends, or is cut.
    let finished = false;
    reply.raw.once('finish', () => {
      finished = true;
      void answer.ended('complete');
    });
    reply.raw.once('close', () => {
      if (!finished) void answer.ended('aborted');
    });
    return reply.status(answer.status).header('content-type', answer.contentType).send(answer.body);
  }

  private async stow(req: HttpRequest, reply: HttpReply, caller: CallerContext, study: string | undefined, dataset: unknown) {
    this.gateway.requireArchive();
    if (dataset !== undefined && typeof dataset !== 'string') throw new ValidationError('dataset must be given once', { field: 'dataset' }, 'bad-dataset');
    if (!Buffer.isBuffer(req.body)) throw new UnsupportedMediaError('STOW-RS takes multipart/related; type="application/dicom"');
    const { status, answer } = await this.gateway.store(req.body, req.headers['content-type'], study === undefined ? {} : { studyUid: study }, dataset, caller.context, baseUrlOf(req));
    return reply.status(status).header('content-type', 'application/dicom+json').send(JSON.stringify(answer));
  }
}

function baseUrlOf(req: HttpRequest): string {
  return `${req.protocol}://${req.host}`;
}
