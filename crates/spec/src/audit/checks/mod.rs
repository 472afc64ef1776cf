//! The checks behind each control, one module per service or concern. Each
//! module holds its controls' catalogue entries (`CONTROLS`) next to the
//! checks, so a new control is one entry and one check in one file (plus its
//! variant in `ControlId`). Each check looks at the resources it applies to
//! and records one observation per judged item: a pass, or a failure with
//! the property path at fault.

pub(super) mod apigateway;
pub(super) mod governance;
pub(super) mod iam;
pub(super) mod kms;
pub(super) mod lambda;
pub(super) mod logs;
pub(super) mod s3;
pub(super) mod sagemaker;
pub(super) mod stores;

use super::catalogue::ControlId;
use super::template::{Resource, Template, cmk};

pub(crate) use logs::retention;

/// One judgement of one control on one resource (or part of it).
#[derive(Debug, Clone)]
pub(crate) struct Observation {
    pub control: ControlId,
    pub logical_id: String,
    pub pointer: String,
    pub pass: bool,
    pub message: String,
    /// For findings inside an embedded JSON document (a pipeline definition
    /// body): the pointer within that document.
    pub inner: Option<String>,
}

/// Records observations for one template.
pub(super) struct Out<'t> {
    pub(super) obs: Vec<Observation>,
    pub(super) tpl: &'t Template<'t>,
}

impl Out<'_> {
    pub(super) fn pass(
        &mut self,
        control: ControlId,
        r: &Resource,
        pointer: String,
        message: impl Into<String>,
    ) {
        self.record(control, r, pointer, true, message.into());
    }

    pub(super) fn fail(
        &mut self,
        control: ControlId,
        r: &Resource,
        pointer: String,
        message: impl Into<String>,
    ) {
        self.record(control, r, pointer, false, message.into());
    }

    fn record(
        &mut self,
        control: ControlId,
        r: &Resource,
        pointer: String,
        pass: bool,
        message: String,
    ) {
        self.obs.push(Observation {
            control,
            logical_id: r.id.to_string(),
            pointer,
            pass,
            message,
            inner: None,
        });
    }

    /// Record a list of problems, or one pass when there are none.
    pub(super) fn judge(
        &mut self,
        control: ControlId,
        r: &Resource,
        pass_ptr: String,
        pass_msg: &str,
        problems: Vec<(String, String)>,
    ) {
        if problems.is_empty() {
            self.pass(control, r, pass_ptr, pass_msg);
        } else {
            for (ptr, msg) in problems {
                self.fail(control, r, ptr, msg);
            }
        }
    }

    /// Pass/fail of a KMS reference at `path`.
    pub(super) fn key(&mut self, control: ControlId, r: &Resource, path: &[&str]) {
        let ptr = r.ptr(path);
        match cmk(self.tpl, r.prop(path)) {
            Ok(()) => self.pass(
                control,
                r,
                ptr,
                format!("{} names a customer-managed key", path.join(".")),
            ),
            Err(e) => self.fail(control, r, ptr, format!("{}: {e}", path.join("."))),
        }
    }
}

/// Run every check on one template.
pub(crate) fn run(tpl: &Template) -> Vec<Observation> {
    let mut out = Out {
        obs: Vec::new(),
        tpl,
    };
    // Findings are sorted by control afterwards, so only the order of one
    // control's observations matters, and each control is checked in one place.
    s3::check(&mut out);
    sagemaker::check(&mut out);
    logs::encryption(&mut out);
    stores::check(&mut out);
    kms::check(&mut out);
    apigateway::check(&mut out);
    iam::check(&mut out);
    lambda::check(&mut out);
    governance::check(&mut out);
    out.obs
}
