import { describe, expect, it } from 'vitest';
import { explainHeapExhaustion, isWasmHeapExhaustion, WasmHeapError } from './heap.js';

describe('wasm heap exhaustion', () => {
  it('recognises the wasm abort messages and explains them', () => {
    const abort = new Error('Aborted(). Build with -sASSERTIONS for more info.');
    abort.name = 'RuntimeError';
    expect(isWasmHeapExhaustion(abort)).toBe(true);
    expect(isWasmHeapExhaustion(new RangeError('memory access out of bounds'))).toBe(true);
    const explained = explainHeapExhaustion(abort, 'a CMC training step of 2 scans of 2x32x128x128');
    expect(explained).toBeInstanceOf(WasmHeapError);
    expect((explained as Error).message).toMatch(
      /^a CMC training step of 2 scans of 2x32x128x128 needs more memory than the wasm backend's 4 GiB heap/,
    );
    expect((explained as Error).cause).toBe(abort);
  });

  it('passes other errors through unchanged', () => {
    const other = new TypeError('x is undefined');
    expect(isWasmHeapExhaustion(other)).toBe(false);
    expect(explainHeapExhaustion(other, 'anything')).toBe(other);
  });
});
