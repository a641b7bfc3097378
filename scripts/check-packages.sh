#!/usr/bin/env bash
# publint, Are-the-types-wrong and the list of files npm would publish, for every
# public package (run after `pnpm build`).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in packages/*/; do
  name="$(node -p "require('./${dir}package.json').name")"
  if [[ "$(node -p "require('./${dir}package.json').private === true")" == "true" ]]; then continue; fi
  echo "== $name" >&2
  (cd "$dir" && pnpm exec publint --strict) || status=1
  (cd "$dir" && node ../../scripts/check-pack-files.mjs) || status=1
  # --profile node16: every package needs Node >= 20, which resolves through `exports`;
  # the legacy node10 resolution (no `exports`) is not a target.
  (cd "$dir" && pnpm exec attw --pack . --profile node16 --format table-flipped) || status=1
done
exit $status
