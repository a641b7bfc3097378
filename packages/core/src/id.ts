import uid from 'uid-safe';

/** 24 random bytes, URL-safe base64: the id express-session generates. */
export function generateSessionId(): string {
  return uid.sync(24);
}
