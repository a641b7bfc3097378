// The `encryption` option (issue 17): the middleware wraps its store with core's
// encryptStore, so the store holds no plaintext of the session data, a rotated
// ring keeps everyone signed in, and a record that does not open is a new
// session, never an error page.
import { randomBytes } from 'node:crypto';
import { ENCRYPTED_KEY, MemoryStore } from '@sess/core';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { EXPRESS, idOf, makeApp, pair, setCookie } from './helpers.js';

const MARKER = 'express-at-rest-marker-2f8a';
const oldKey = { id: 'old', key: randomBytes(32).toString('base64') };
const newKey = { id: 'new', key: randomBytes(32).toString('hex') };

describe.each(EXPRESS)('%s: the encryption option', (_name, express) => {
  const routes = (app: ReturnType<typeof makeApp>) => {
    app.get('/login', (req, res) => {
      const s = req.session as unknown as Record<string, unknown>;
      s['token'] = MARKER;
      s['views'] = ((s['views'] as number) ?? 0) + 1;
      res.json({ views: s['views'] });
    });
    app.get('/', (req, res) => {
      const s = req.session as unknown as Record<string, unknown>;
      s['views'] = ((s['views'] as number) ?? 0) + 1;
      res.json({ views: s['views'], token: s['token'] ?? null });
    });
  };

  it('stores envelopes only; rotation keeps the session; another key starts a new one', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const first = makeApp(express, { store, encryption: { keys: [oldKey] } }, routes);
    const login = await request(first).get('/login').expect(200);
    const line = setCookie(login.headers);
    const id = idOf(line);
    const held = await store.get(id);
    expect(JSON.stringify(held)).not.toContain(MARKER);
    expect(held?.[ENCRYPTED_KEY]).toMatch(/^1\.old\./);

    const rotated = makeApp(express, { store, encryption: { keys: [newKey, oldKey] } }, routes);
    const again = await request(rotated).get('/').set('Cookie', pair(line)).expect(200);
    expect(again.body).toEqual({ views: 2, token: MARKER });
    expect((await store.get(id))?.[ENCRYPTED_KEY]).toMatch(/^1\.new\./);

    const stranger = makeApp(
      express,
      { store, encryption: { keys: [{ id: 'x', key: randomBytes(32) }] } },
      routes,
    );
    const fresh = await request(stranger).get('/').set('Cookie', pair(line)).expect(200);
    expect(fresh.body).toEqual({ views: 1, token: null });
    expect(idOf(setCookie(fresh.headers))).not.toBe(id);
  });

  it('a bad key fails at startup with SessConfigError', () => {
    expect(() =>
      makeApp(express, { encryption: { keys: [{ id: 'a', key: 'short password' }] } }, routes),
    ).toThrow(expect.objectContaining({ code: 'SESS_CONFIG' }));
  });
});
