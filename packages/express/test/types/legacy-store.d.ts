// Types of a store package written against express-session (as connect-redis 7+
// and memorystore ship them): importing them brings @types/express-session.
import { type SessionData, Store } from 'express-session';

export declare class LegacyStore extends Store {
  get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void;
  set(sid: string, session: SessionData, callback?: (err?: unknown) => void): void;
  destroy(sid: string, callback?: (err?: unknown) => void): void;
}
