#!/usr/bin/env node
// Helper of benches/synth/run.sh (no dependencies beyond Node.js).
//   node report.js count <dxops-out-dir> <cdk.out-dir>       -> counts.tsv on stdout
//   node report.js table <hyperfine.json> <rss.tsv> <counts.tsv> -> Markdown on stdout
'use strict';

const fs = require('fs');
const path = require('path');

function walk(dir) {
  const files = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...walk(p));
    else files.push(p);
  }
  return files.sort();
}

// Resource types of a block-style CloudFormation YAML template as dxops emits
// it: the keys two spaces in under the top-level `Resources:` and the
// `Type:` four spaces in under each.
function yamlResourceTypes(text) {
  const types = [];
  let inResources = false;
  let pending = false;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) { inResources = line.startsWith('Resources:'); pending = false; continue; }
    if (!inResources) continue;
    if (/^ {2}[^\s#][^:]*:\s*$/.test(line)) { types.push('?'); pending = true; continue; }
    const m = pending && /^ {4}Type:\s*(\S+)/.exec(line);
    if (m) { types[types.length - 1] = m[1].replace(/^["']|["']$/g, ''); pending = false; }
  }
  return types;
}

function count(dxopsDir, cdkDir) {
  const rows = [['tool', 'group', 'stacks', 'resources', 'files', 'bytes']];
  // dxops: <out>/<pipeline>/<env>/*.yaml (templates) plus JSON/ASL/DQDL/manifest.
  const byEnv = new Map();
  for (const f of walk(dxopsDir)) {
    const env = path.relative(dxopsDir, path.dirname(f)) || '.';
    const e = byEnv.get(env) || { stacks: 0, resources: 0, files: 0, bytes: 0 };
    const text = fs.readFileSync(f, 'utf8');
    e.files += 1; e.bytes += Buffer.byteLength(text);
    if (/\.ya?ml$/.test(f) && /^Resources:/m.test(text)) {
      e.stacks += 1; e.resources += yamlResourceTypes(text).length;
    }
    byEnv.set(env, e);
  }
  for (const [env, e] of byEnv) rows.push(['dxops', env, e.stacks, e.resources, e.files, e.bytes]);
  // CDK: cdk.out/*.template.json; AWS::CDK::Metadata (version reporting) is not counted.
  const c = { stacks: 0, resources: 0, files: 0, bytes: 0 };
  for (const f of walk(cdkDir)) {
    c.files += 1; c.bytes += fs.statSync(f).size;
    if (!f.endsWith('.template.json')) continue;
    const t = JSON.parse(fs.readFileSync(f, 'utf8'));
    c.stacks += 1;
    c.resources += Object.values(t.Resources || {}).filter((r) => r.Type !== 'AWS::CDK::Metadata').length;
  }
  rows.push(['cdk', 'cdk.out', c.stacks, c.resources, c.files, c.bytes]);
  process.stdout.write(rows.map((r) => r.join('\t')).join('\n') + '\n');
}

function fmt(seconds) {
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.1 ? 2 : 1)} ms`;
  return `${seconds.toFixed(2)} s`;
}

function ratio(x) {
  return x >= 100 ? `${Math.round(x)}×` : `${x.toFixed(x >= 10 ? 0 : 1)}×`;
}

function table(hfJson, rssTsv, countsTsv) {
  const results = JSON.parse(fs.readFileSync(hfJson, 'utf8')).results;
  const rss = new Map(fs.readFileSync(rssTsv, 'utf8').trim().split('\n').map((l) => l.split('\t')));
  const base = results.find((r) => r.command === 'dxops synth');
  const cpu = (r) => r.user + r.system;
  const out = [];
  out.push('| command | runs | wall mean ± σ | wall min | CPU user+sys (mean) | peak RSS | wall ÷ dxops synth | CPU ÷ dxops synth |');
  out.push('|---|--:|--:|--:|--:|--:|--:|--:|');
  for (const r of results) {
    const kb = Number(rss.get(r.command) || 0);
    out.push(`| \`${r.command}\` | ${r.times.length} | ${fmt(r.mean)} ± ${fmt(r.stddev || 0)} | ${fmt(r.min)} `
      + `| ${fmt(cpu(r))} | ${(kb / 1024).toFixed(1)} MiB | ${ratio(r.mean / base.mean)} | ${ratio(cpu(r) / cpu(base))} |`);
  }
  const rows = fs.readFileSync(countsTsv, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  out.push('');
  out.push('Output of one run:');
  for (const [tool, group, stacks, resources, files, bytes] of rows) {
    const what = tool === 'dxops' ? `dxops, environment \`${group}\`` : 'cdk synth, `cdk.out` (1 environment)';
    out.push(`- ${what}: ${stacks} stacks, ${resources} resources, ${files} files, ${(bytes / 1024).toFixed(0)} KiB`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'count') count(...args);
else if (mode === 'table') table(...args);
else { console.error('usage: report.js count|table ...'); process.exit(2); }
