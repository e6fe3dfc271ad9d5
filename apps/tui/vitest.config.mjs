// The shared settings, plus .tsx tests (the Ink components).
import shared from '../../vitest.shared.mjs';

export default { ...shared, test: { ...shared.test, include: ['src/**/*.test.ts', 'src/**/*.test.tsx'] } };
