// Compiled beside a client generated from /docs/openapi.json (scripts/contract/check.sh): calls
// four routes through it (the dev issuer, image registration, an access request, the trail),
// so a document a generator takes but that misdescribes the server fails here.
import { AccessApi, AccessRequestDtoActionEnum, AccessRequestDtoPurposeEnum, AccessRequestDtoResourceTypeEnum, Configuration, DevTokenDtoRolesEnum, IdentityApi } from './client/index';

async function main(): Promise<void> {
  const basePath = process.argv[2];
  if (!basePath) throw new Error('usage: calls.js <gateway base URL>');
  const identity = new IdentityApi(new Configuration({ basePath }));
  const admin = await identity.issueDevToken({ devTokenDto: { sub: 'admin-1', roles: [DevTokenDtoRolesEnum.Admin] } });
  const clinician = await identity.issueDevToken({ devTokenDto: { sub: 'dr-1', roles: [DevTokenDtoRolesEnum.Clinician] } });
  const officer = await identity.issueDevToken({ devTokenDto: { sub: 'so-1', roles: [DevTokenDtoRolesEnum.SecurityOfficer] } });
  const as = (token: string) => new AccessApi(new Configuration({ basePath, accessToken: async () => token }));
  const image = await as(admin.token!).registerImage({ registerImageDto: { imageId: 'img-gen-1', patientId: 'p-gen-1', modality: 'CT', bodySite: 'chest', datasetId: 'ds-1', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'unknown' } } });
  const decision = await as(clinician.token!).requestAccess({ accessRequestDto: { resourceType: AccessRequestDtoResourceTypeEnum.Image, resourceId: 'img-gen-1', action: AccessRequestDtoActionEnum.View, purpose: AccessRequestDtoPurposeEnum.Treatment } });
  // The trail is a read model: poll until it has applied the decision (a few ms in embedded mode).
  let trail = await as(officer.token!).getAccessTrail({ patientId: 'p-gen-1', limit: 10 });
  for (let i = 0; i < 100 && !trail.items?.some((item) => item.resourceId === 'img-gen-1'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    trail = await as(officer.token!).getAccessTrail({ patientId: 'p-gen-1', limit: 10 });
  }
  if (image.imageId !== 'img-gen-1' || decision.decision !== 'PERMIT' || !trail.items?.some((i) => i.resourceId === 'img-gen-1')) {
    throw new Error(`unexpected answers: ${JSON.stringify({ image, decision, trail })}`);
  }
  process.stdout.write(`[contract] generated client: image registered, access ${decision.decision}, trail of ${trail.items.length}\n`);
}
main().catch((e: unknown) => {
  process.stderr.write(`[contract] ${(e as Error).message}\n`);
  process.exit(1);
});
