// The commands Redis receives while `work` runs, as MONITOR prints them (without
// timestamps): `"set" "key" "value" "PX" "1000"`, command names lower-cased.
import { createClient } from 'redis';

export async function monitor(url: string, work: () => Promise<void>): Promise<string[]> {
  const client = createClient({ url });
  await client.connect();
  const lines: string[] = [];
  try {
    await client.monitor((reply) => {
      // 1700000000.123456 [0 127.0.0.1:5000] "SET" "key" ...
      const line = String(reply);
      const start = line.indexOf('"');
      if (start < 0) return;
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
