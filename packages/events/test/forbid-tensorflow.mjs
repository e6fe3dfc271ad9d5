// A module-resolution hook for the "loads no TensorFlow.js" test: any import of a
// `@tensorflow/*` package, or of onnxruntime, fails, so a script that merely reaches one dies.
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (/^@tensorflow\\//.test(specifier) || /^onnxruntime/.test(specifier)) {
    throw new Error('forbidden import: ' + specifier + ' (from ' + context.parentURL + ')');
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
