/** A `ViewPool` worker: applies drawn views (`applyView`) and sends the volumes back. */
import { parentPort } from 'node:worker_threads';
import { applyView, fromWire, type ViewAnswer, type ViewRequest } from './viewPool.js';

const port = parentPort;
if (port === null) throw new Error('viewWorker.js runs as a worker thread of ViewPool');

port.on('message', (request: ViewRequest) => {
  try {
    const image = fromWire(request.image, 'uint8-windowed');
    const view = applyView(
      request.mask === undefined
        ? { image, params: request.params }
        : { image, mask: fromWire(request.mask, 'label'), params: request.params },
    );
    const answer: ViewAnswer = {
      id: request.id,
      image: { data: view.image.data, shape: view.image.shape },
      ...(view.mask === undefined ? {} : { mask: { data: view.mask.data, shape: view.mask.shape } }),
    };
    port.postMessage(answer, [
      view.image.data.buffer as ArrayBuffer,
      ...(view.mask ? [view.mask.data.buffer as ArrayBuffer] : []),
    ]);
  } catch (error) {
    port.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) } satisfies ViewAnswer);
  }
});
