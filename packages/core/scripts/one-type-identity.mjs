// After tsup: make the ESM type entry re-export the CommonJS one, so that both
// entries declare one set of types. tsup writes two copies (index.d.ts and
// index.d.cts), which TypeScript treats as two modules: a CommonJS project's
// `declare module '@sess/core' { interface SessionData { ... } }` then lands on
// index.d.cts, while a package whose types are ESM (@sess/express's Request
// augmentation) reads SessionData from index.d.ts, and the augmentation has no
// effect there. With one declaration file, every augmentation reaches it.
import { readFileSync, writeFileSync } from 'node:fs';

const cjs = new URL('../dist/index.d.cts', import.meta.url);
const esm = new URL('../dist/index.d.ts', import.meta.url);
if (!readFileSync(cjs, 'utf8').includes('export')) {
  throw new Error('dist/index.d.cts has no exports: run tsup first');
}
writeFileSync(
  esm,
  "// One declaration file for both entries (see scripts/one-type-identity.mjs).\nexport * from './index.cjs';\n",
);
