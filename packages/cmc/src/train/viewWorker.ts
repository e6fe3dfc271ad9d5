/** A `ViewPool` worker: applies drawn views (`applyView`) and sends the volumes back. */
import { serveJobs } from '@covsev/engine/worker';
import { applyView, fromWire, type ViewAnswer, type ViewRequest } from './views.js';

serveJobs<ViewRequest, ViewAnswer>((request) => {
  const image = fromWire(request.image, 'uint8-windowed');
  const view = applyView(
    request.mask === undefined
      ? { image, params: request.params }
      : { image, mask: fromWire(request.mask, 'label'), params: request.params },
  );
  return {
    answer: {
      image: { data: view.image.data, shape: view.image.shape },
      ...(view.mask === undefined ? {} : { mask: { data: view.mask.data, shape: view.mask.shape } }),
    },
    transfer: [view.image.data.buffer as ArrayBuffer, ...(view.mask ? [view.mask.data.buffer as ArrayBuffer] : [])],
  };
});
