import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import fastifySession, { FastifySession } from '../src/index.js';
import { SECRET } from './helpers.js';

// The same augmentation as for @sess/express types request.session here.
declare module '@sess/core' {
  interface SessionData {
    typedViews: number;
  }
}

describe('types: request.session through SessionData', () => {
  it('typed get / set / property access, and the session class at run time', async () => {
    const app = Fastify();
    await app.register(fastifyCookie);
    await app.register(fastifySession, { secret: SECRET, cookie: { secure: false } });
    app.get('/', async (request) => {
      const views: number | undefined = request.session.typedViews;
      request.session.set('typedViews', (views ?? 0) + 1);
      // Compiled, never run: the wrong types are refused.
      const wrong = () => {
        // @ts-expect-error typedViews is a number
        request.session.set('typedViews', 'many');
        // @ts-expect-error typedViews is a number
        request.session.typedViews = 'many';
        // @ts-expect-error no such key in SessionData
        request.session.get('nothing');
      };
      void wrong;
      const read: number | undefined = request.session.get('typedViews');
      return { read, isClass: request.session instanceof FastifySession };
    });
    const response = await app.inject('/');
    expect(response.json()).toEqual({ read: 1, isClass: true });
    await app.close();
  });
});
