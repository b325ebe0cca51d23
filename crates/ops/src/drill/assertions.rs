//! A drill's assertions: the user's own questions about the restored data
//! (`[[sources.NAME.drill.assert]]`), each asked of the scratch database
//! through [`Source::probe`] and checked against its expected value.

use serde::Serialize;
use tresor_core::Source;

use crate::config::DrillAssertion;

/// What one assertion found.
#[derive(Clone, Debug, Serialize)]
pub struct AssertionOutcome {
    /// The assertion's name.
    pub name: String,
    /// The query asked.
    pub query: String,
    /// The expected value (`>= 1`).
    pub expect: String,
    /// The value seen (`None`: no row, NULL, or an error).
    pub seen: Option<String>,
    /// Whether the value met the expectation.
    pub ok: bool,
    /// The database's message, when the query failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Runs every assertion against `source`, one after another; a query that
/// fails fails its assertion with the database's message.
pub(super) async fn run(
    source: &dyn Source,
    assertions: &[DrillAssertion],
) -> Vec<AssertionOutcome> {
    let mut out = Vec::with_capacity(assertions.len());
    for a in assertions {
        let mut outcome = AssertionOutcome {
            name: a.name.clone(),
            query: String::new(),
            expect: a.expect.clone(),
            seen: None,
            ok: false,
            error: None,
        };
        let checked = async {
            let probe = a.probe()?;
            outcome.query = probe.to_string();
            let expectation = a.expectation()?;
            outcome.expect = expectation.to_string();
            let seen = source.probe(&probe).await.map_err(|e| match e.hint() {
                Some(h) => format!("{e} (try: {h})"),
                None => e.to_string(),
            })?;
            Ok::<_, String>((expectation.holds(seen.as_deref()), seen))
        }
        .await;
        match checked {
            Ok((ok, seen)) => {
                outcome.ok = ok;
                outcome.seen = seen;
            }
            Err(e) => outcome.error = Some(e),
        }
        out.push(outcome);
    }
    out
}

impl AssertionOutcome {
    /// One line on what went wrong, for a failed assertion.
    pub fn problem(&self) -> Option<String> {
        if self.ok {
            return None;
        }
        Some(match &self.error {
            Some(e) => format!("assertion {:?} failed: {e}", self.name),
            None => format!(
                "assertion {:?} failed: expected {}, got {}",
                self.name,
                self.expect,
                self.seen.as_deref().unwrap_or("NULL")
            ),
        })
    }
}
