import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { gatewaySpec } from './gateway.module.js';

describe('the nested-object rule', () => {
  it('holds for every nested property of every request DTO: each ValidateNested comes with IsObject', () => {
    expect(gatewaySpec).toBeDefined(); // its module loads every controller, hence every DTO
    // class-validator keeps its metadata per class in a private map; reading it is the only
    // way to list every DTO the gateway declared.
    const storage = getMetadataStorage() as unknown as { validationMetadatas: Map<{ name: string }, Array<{ type: string; name?: string; propertyName: string; each: boolean }>> };
    const missing: string[] = [];
    let nested = 0;
    for (const [target, metas] of storage.validationMetadatas) {
      for (const m of metas.filter((x) => x.type === ValidationTypes.NESTED_VALIDATION)) {
        nested += 1;
        if (!metas.some((x) => x.propertyName === m.propertyName && x.name === 'isObject' && x.each === m.each)) missing.push(`${target.name}.${m.propertyName}`);
      }
    }
    expect(nested).toBeGreaterThanOrEqual(6);
    expect(missing).toEqual([]);
  });
});
