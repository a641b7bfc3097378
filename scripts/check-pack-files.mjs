// What `npm publish` would ship for the package in the current directory:
// only built output, README, LICENSE, CHANGELOG and package.json; nothing
// from src/ or test/, no source maps of tests, no stray files. Prints the list.
import { execFileSync } from 'node:child_process';

const [report] = JSON.parse(
  execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }),
);
const allowed =
  /^(dist\/[^/]+|cjs\/index\.(cjs|d\.cts)|types\/[^/]+\.d\.ts|README\.md|LICENSE|CHANGELOG\.md|package\.json)$/;
const files = report.files.map((f) => f.path).sort();
const stray = files.filter((path) => !allowed.test(path));
for (const required of ['package.json', 'README.md', 'LICENSE']) {
  if (!files.includes(required)) stray.push(`(missing) ${required}`);
}
if (!files.some((path) => path.startsWith('dist/'))) stray.push('(missing) dist/');
console.log(`${report.name}@${report.version}: ${files.length} files, ${report.size} bytes packed`);
for (const path of files) console.log(`  ${path}`);
if (stray.length > 0) {
  console.error(`unexpected in the tarball: ${stray.join(', ')}`);
  process.exit(1);
}
