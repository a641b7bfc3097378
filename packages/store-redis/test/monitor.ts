// The commands Redis receives while `work` runs, as MONITOR prints them (without
// timestamps): `"set" "key" "value" "PX" "1000"`, command names lower-cased.
// `clientOnly` leaves out the commands a Lua script runs (MONITOR's `[0 lua]`).
import { createClient } from 'redis';

export async function monitor(
  url: string,
  work: () => Promise<void>,
  { clientOnly = false }: { clientOnly?: boolean } = {},
): Promise<string[]> {
  const client = createClient({ url });
  await client.connect();
  const lines: string[] = [];
  try {
    await client.monitor((reply) => {
      // 1700000000.123456 [0 127.0.0.1:5000] "SET" "key" ...
      const line = String(reply);
      const start = line.indexOf('"');
      if (start < 0) return;
      if (clientOnly && /^[^"]*\[\d+ lua\]/.test(line)) return;
      const args = line.slice(start);
      lines.push(args.replace(/^"([^"]+)"/, (_m, name: string) => `"${name.toLowerCase()}"`));
    });
    await work();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    client.destroy();
  }
  return lines;
}
