// Runs cdk-nag's HIPAA Security pack over CloudFormation templates rendered
// by dxops, as an independent check of `dxops audit`: each template is
// included as-is (CfnInclude) in a stack of its own and the pack runs as a
// policy-validation plugin. Prints one JSON object: every violation with its
// rule, severity, template and logical id.
//
// Usage: node check.js TEMPLATE...
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { App, Stack, Validations } = require('aws-cdk-lib');
const { CfnInclude } = require('aws-cdk-lib/cloudformation-include');
const { HIPAASecurityChecks } = require('cdk-nag');

const templates = process.argv.slice(2);
if (templates.length === 0) {
  console.error('usage: node check.js TEMPLATE...');
  process.exit(2);
}

const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'dxops-nag-'));
const app = new App({ outdir });
templates.forEach((file, i) => {
  new CfnInclude(new Stack(app, `Template${i}`), 'Included', { templateFile: file });
});
Validations.of(app).addPlugins(new HIPAASecurityChecks(app));

// The plugin makes synth throw when a rule fails; its report is written either way.
const log = console.log;
console.log = () => {};
console.error = () => {};
try {
  app.synth();
} catch (e) {
  // judged from the report below
}
console.log = log;

const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
const violations = [];
for (const plugin of report.pluginReports) {
  for (const v of plugin.violations) {
    for (const c of v.violatingConstructs) {
      const [stack, , logicalId] = c.constructPath.split('/');
      violations.push({
        rule: v.ruleName,
        severity: v.severity,
        template: templates[Number(stack.replace('Template', ''))],
        logical_id: logicalId,
      });
    }
  }
}
violations.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
console.log(JSON.stringify({ pack: 'HIPAA.Security', templates: templates.length, violations }, null, 2));
fs.rmSync(outdir, { recursive: true, force: true });
