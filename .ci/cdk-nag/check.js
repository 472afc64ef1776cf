// Runs cdk-nag's HIPAA Security and AwsSolutions packs over CloudFormation
// templates rendered by dxops, as an independent check of `dxops audit`.
// Each template is included as-is (CfnInclude) in a stack of its own and the
// packs run as Aspects, the mode in which cdk-nag reads the suppressions a
// template carries (`Metadata.cdk_nag.rules_to_suppress`, where dxops writes
// its waivers). cdk-nag 3 runs only as a policy-validation plugin, which
// reads no template metadata, hence cdk-nag 2.
//
// Prints one JSON object: per pack, the rules it applied, every finding
// (rule, finding id, level, template, logical id) and every suppressed one
// with the reason cdk-nag read, plus any rule that could not be evaluated.
//
// Usage: node check.js TEMPLATE...
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { App, Aspects, Stack } = require('aws-cdk-lib');
const { CfnInclude } = require('aws-cdk-lib/cloudformation-include');
const { AwsSolutionsChecks, HIPAASecurityChecks } = require('cdk-nag');

const templates = process.argv.slice(2);
if (templates.length === 0) {
  console.error('usage: node check.js TEMPLATE...');
  process.exit(2);
}

const packs = {};
const rules = {};
for (const name of ['HIPAA.Security', 'AwsSolutions']) {
  packs[name] = { rules: [], findings: [], suppressed: [], errors: [] };
  rules[name] = new Set();
}
const where = (resource) => {
  const [stack, , logicalId] = resource.node.path.split('/');
  return { template: templates[Number(stack.replace('Template', ''))], logical_id: logicalId };
};
const pack = (d) => {
  rules[d.nagPackName].add(d.ruleId);
  return packs[d.nagPackName];
};
const level = (d) => String(d.ruleLevel).toLowerCase();
// A logger that keeps what cdk-nag decided, finding by finding.
const logger = {
  onCompliance(d) {
    pack(d);
  },
  onNotApplicable(d) {
    pack(d);
  },
  onNonCompliance(d) {
    pack(d).findings.push({ rule: d.ruleId, finding: d.findingId, level: level(d), ...where(d.resource) });
  },
  onSuppressed(d) {
    pack(d).suppressed.push({ rule: d.ruleId, finding: d.findingId, level: level(d), ...where(d.resource), reason: d.suppressionReason });
  },
  onError(d) {
    pack(d).errors.push({ rule: d.ruleId, message: d.errorMessage, ...where(d.resource) });
  },
  onSuppressedError(d) {
    pack(d).errors.push({ rule: d.ruleId, message: d.errorMessage, ...where(d.resource), reason: d.errorSuppressionReason });
  },
};

const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'dxops-nag-'));
const app = new App({ outdir });
templates.forEach((file, i) => {
  new CfnInclude(new Stack(app, `Template${i}`), 'Included', { templateFile: file });
});
for (const Pack of [HIPAASecurityChecks, AwsSolutionsChecks]) {
  Aspects.of(app).add(new Pack({ reports: false, additionalLoggers: [logger] }));
}
app.synth();
fs.rmSync(outdir, { recursive: true, force: true });

const order = (a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b));
for (const [name, p] of Object.entries(packs)) {
  p.rules = [...rules[name]].sort();
  p.findings.sort(order);
  p.suppressed.sort(order);
  p.errors.sort(order);
}
console.log(JSON.stringify({ templates: templates.length, packs }, null, 2));
