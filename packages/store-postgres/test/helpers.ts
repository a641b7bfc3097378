import { resolveService } from '@sess/store-conformance/services';

/** The PostgreSQL under test: SESS_POSTGRES_URL, a Testcontainers container, or a named skip. */
export const service = await resolveService('postgres');
export const url = service.available ? service.url : '';
export const skip = service.available ? false : service.reason;

/** A table name of its own for each test, so runs never see each other. */
let n = 0;
export const uniqueTable = (label: string) =>
  `t_${label}_${process.pid}_${Date.now().toString(36)}_${n++}`.slice(0, 60);

export const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
export const record = (data: Record<string, unknown> = {}, ms: number | null = 3_600_000) => ({
  cookie: {
    originalMaxAge: ms,
    expires: ms === null ? null : new Date(Date.now() + ms).toISOString(),
  },
  ...data,
});
