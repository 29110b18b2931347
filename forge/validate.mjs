// Validates the generated Connect on Forge manifests with Atlassian's own
// validator, @forge/manifest (what `forge lint` and `forge deploy` run
// locally), pinned in package.json / package-lock.json. Offline: no login,
// no network once `npm ci` has installed it.
//
// Usage: node validate.mjs [manifest.yml ...]
// Without arguments it validates jira/manifest.yml and
// confluence/manifest.yml next to this script. Exits 1 when any manifest
// has an error (warnings are printed but do not fail).
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { validate } = require('@forge/manifest');
const { version } = JSON.parse(
  readFileSync(path.join(here, 'node_modules', '@forge', 'manifest', 'package.json'), 'utf8'),
);

const files = process.argv.slice(2).map((f) => path.resolve(f));
if (files.length === 0) {
  files.push(path.join(here, 'jira', 'manifest.yml'), path.join(here, 'confluence', 'manifest.yml'));
}

let failed = false;
const start = process.cwd();
for (const file of files) {
  // The Forge CLI validates from the app's folder; so do we.
  process.chdir(path.dirname(file));
  let result;
  try {
    result = await validate(false, file);
  } finally {
    process.chdir(start);
  }
  const issues = result.errors ?? [];
  const errors = issues.filter((e) => e.level === 'error');
  const rel = path.relative(start, file) || file;
  for (const e of issues) {
    const where = e.line ? `${rel}:${e.line}:${e.column ?? 0}` : rel;
    console.log(`${where}: ${e.level}: ${e.message} [${e.reference}]`);
  }
  if (!result.success || errors.length > 0) {
    failed = true;
    console.log(`${rel}: INVALID (@forge/manifest ${version})`);
  } else {
    console.log(`${rel}: valid (@forge/manifest ${version}, ${issues.length} warning(s))`);
  }
}
process.exit(failed ? 1 : 0);
