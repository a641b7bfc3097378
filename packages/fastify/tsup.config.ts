import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // The Fastify augmentation lives in one shared file (see types/), not in each bundle.
  dts: { banner: '/// <reference path="../types/fastify-request.d.ts" />' },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
