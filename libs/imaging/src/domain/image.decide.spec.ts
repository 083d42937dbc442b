import { given } from '@custos/testing';
import { imageDecider } from './image.decide.js';
import type { ImageRegisteredData } from './image.events.js';

const image: ImageRegisteredData = { imageId: 'img-1', patientId: 'pat-1', modality: 'CT', bodySite: 'chest', datasetId: 'ds-1', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'x' } };

describe('imageDecider', () => {
  it('registers a new image', () => {
    given(imageDecider, []).when({ type: 'RegisterImage', image }).then([{ type: 'ImageRegistered', data: image }]);
  });
  it('refuses a second registration of the same id', () => {
    given(imageDecider, [{ type: 'ImageRegistered', data: image }]).when({ type: 'RegisterImage', image }).thenFails('image-exists');
  });
  it('refuses demographics that are not an object of sex, birth year and ethnicity, whatever transport sent them', () => {
    for (const demographics of [[], {}, null, 'F', [{ sex: 'F', birthYear: 1970, ethnicity: 'x' }], { sex: 'F', birthYear: '1970', ethnicity: 'x' }, { sex: '', birthYear: 1970, ethnicity: 'x' }, { sex: 'F', birthYear: 1970.5, ethnicity: 'x' }, { sex: 'F', birthYear: 1970 }]) {
      given(imageDecider, [])
        .when({ type: 'RegisterImage', image: { ...image, demographics } as unknown as ImageRegisteredData })
        .thenFails('bad-image');
    }
  });
  it('refuses an image without the ids its readers key on', () => {
    for (const field of ['imageId', 'patientId', 'datasetId', 'modality', 'bodySite'] as const) {
      for (const value of [undefined, null, '', [], 'x'.repeat(101)]) {
        given(imageDecider, [])
          .when({ type: 'RegisterImage', image: { ...image, [field]: value } as unknown as ImageRegisteredData })
          .thenFails('bad-image');
      }
    }
  });
});
