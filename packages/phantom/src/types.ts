/** Type aliases derived from io's Volume, so this package needs only io's documented exports. */
import type { Volume } from '@covsev/io';
import type { SeverityCategory } from '@covsev/io/core';

export type Spacing3 = Volume['spacing'];
export type Affine = Volume['affine'];
/** Challenge category: 1 = Mild, 2 = Moderate, 3 = Severe, 4 = Critical (io's `SeverityCategory`). */
export type Category = SeverityCategory;
