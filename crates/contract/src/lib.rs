//! The types the two sides of dxops must agree on: the spec/render side
//! writes them into `stacks/`, the model image and `dxops run` read them,
//! and the deployer reads the manifest. Nothing here does I/O beyond paths,
//! so both sides can depend on it without pulling in each other's weight.
//!
//! - [`data`]: the data contract (`process.json`) and training choices;
//! - [`hyperparameters`]: the training step's hyperparameters, as strings
//!   and typed, with their defaults and ranges;
//! - [`evaluation`]: the evaluation report (`evaluation.json`);
//! - [`gates`]: the condition step, derived from and checked against one list;
//! - [`drift`]: the drift statistic named by the spec and used by the server;
//! - [`manifest`]: the stacks of an environment in deployment order;
//! - [`layout`]: the SageMaker container layout.

pub mod data;
pub mod drift;
pub mod evaluation;
pub mod gates;
pub mod hyperparameters;
pub mod layout;
pub mod manifest;

/// An error and its causes on one line, for the binaries' last word.
///
/// Many errors here show their cause in their own message and also expose it
/// as `source()`; printing every link would say the same thing twice, so a
/// cause already contained in the text so far is left out.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot read a.yaml: {0}")]
        Shown(#[source] Inner),
        #[error("cannot read a.yaml")]
        Hidden(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("line 3 is too long")]
    struct Inner;

    #[test]
    fn a_cause_is_named_once() {
        assert_eq!(
            super::error_chain(&Outer::Shown(Inner)),
            "cannot read a.yaml: line 3 is too long"
        );
        assert_eq!(
            super::error_chain(&Outer::Hidden(Inner)),
            "cannot read a.yaml: line 3 is too long"
        );
    }
}
