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
});
