//! The dashboard's charts: repository size and the data it holds over
//! time, and each source's restore drill times, as inline SVG (no
//! JavaScript, no external assets).

use std::fmt::Write as _;

use crate::actions::sources::DrillPoint;
use crate::store::{RepoStat, parse_ts};

const W: f64 = 600.0;
const H: f64 = 160.0;
const PAD: f64 = 4.0;

fn points(
    stats: &[RepoStat],
    value: impl Fn(&RepoStat) -> i64,
    max: f64,
    t0: i64,
    span: f64,
) -> String {
    let mut out = String::new();
    for s in stats {
        let Some(t) = parse_ts(&s.at) else { continue };
        let x = PAD + (t.timestamp() - t0) as f64 / span * (W - 2.0 * PAD);
        let y = H - PAD - value(s) as f64 / max * (H - 2.0 * PAD);
        let _ = write!(out, "{x:.1},{y:.1} ");
    }
    out
}

/// The SVG, or `None` before there are two samples.
pub fn repository_chart(stats: &[RepoStat]) -> Option<String> {
    if stats.len() < 2 {
        return None;
    }
    let times: Vec<i64> = stats
        .iter()
        .filter_map(|s| parse_ts(&s.at).map(|t| t.timestamp()))
        .collect();
    let t0 = *times.iter().min()?;
    let t1 = *times.iter().max()?;
    let span = ((t1 - t0).max(1)) as f64;
    let max = stats
        .iter()
        .map(|s| s.logical_bytes.max(s.stored_bytes))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let stored = points(stats, |s| s.stored_bytes, max, t0, span);
    let logical = points(stats, |s| s.logical_bytes, max, t0, span);
    let top = super::human_bytes(max as u64);
    Some(format!(
        r##"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="repository size over time">
<title>Stored bytes (solid) and the table data they hold (dashed); the gap is what deduplication and compression save</title>
<line x1="0" y1="{PAD}" x2="{W}" y2="{PAD}" class="grid"/><line x1="0" y1="{b}" x2="{W}" y2="{b}" class="grid"/>
<text x="{PAD}" y="14" class="axis">{top}</text>
<polyline points="{logical}" class="logical"/>
<polyline points="{stored}" class="stored"/>
</svg>"##,
        b = H - PAD,
    ))
}

/// Width and height of a source's drill chart.
const DW: f64 = 300.0;
const DH: f64 = 64.0;

/// A source's restore times over its recent drills (a passing drill a
/// dot, a failed one a ring), or `None` before there are two.
pub fn drill_chart(drills: &[DrillPoint]) -> Option<String> {
    if drills.len() < 2 {
        return None;
    }
    let t0 = drills.iter().map(|d| d.at.timestamp()).min()?;
    let t1 = drills.iter().map(|d| d.at.timestamp()).max()?;
    let span = ((t1 - t0).max(1)) as f64;
    let max = drills
        .iter()
        .map(|d| d.restore_seconds)
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let mut line = String::new();
    let mut dots = String::new();
    for d in drills {
        let x = PAD + (d.at.timestamp() - t0) as f64 / span * (DW - 2.0 * PAD);
        let y = DH - PAD - d.restore_seconds / max * (DH - 2.0 * PAD - 10.0);
        let _ = write!(line, "{x:.1},{y:.1} ");
        let _ = write!(
            dots,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" class="{}"><title>{} · {:.1} s{}</title></circle>"#,
            if d.ok { "pass" } else { "fail" },
            d.at.format("%Y-%m-%d %H:%M UTC"),
            d.restore_seconds,
            if d.ok { "" } else { " · failed" }
        );
    }
    Some(format!(
        r##"<svg class="chart drill-chart" viewBox="0 0 {DW} {DH}" role="img" aria-label="restore time over the recent drills">
<title>Restore time of each recent drill (a ring: the drill failed)</title>
<line x1="0" y1="{b}" x2="{DW}" y2="{b}" class="grid"/>
<text x="{PAD}" y="10" class="axis">{max:.1} s</text>
<polyline points="{line}" class="stored"/>
{dots}
</svg>"##,
        b = DH - PAD,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_samples_make_a_chart() {
        let s = |at: &str, stored, logical| RepoStat {
            at: at.into(),
            snapshots: 1,
            stored_bytes: stored,
            logical_bytes: logical,
        };
        assert!(repository_chart(&[s("2025-01-01T00:00:00Z", 10, 20)]).is_none());
        let svg = repository_chart(&[
            s("2025-01-01T00:00:00Z", 10, 20),
            s("2025-01-02T00:00:00Z", 12, 40),
        ])
        .expect("chart");
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn drills_make_a_chart_with_failures_marked() {
        let d = |at: &str, secs, ok| DrillPoint {
            at: parse_ts(at).expect("time"),
            restore_seconds: secs,
            ok,
        };
        assert!(drill_chart(&[d("2025-01-01T00:00:00Z", 3.0, true)]).is_none());
        let svg = drill_chart(&[
            d("2025-01-01T00:00:00Z", 3.0, true),
            d("2025-01-02T00:00:00Z", 4.5, false),
        ])
        .expect("chart");
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(svg.contains(r#"class="fail""#), "{svg}");
        assert!(svg.contains("4.5 s"), "{svg}");
    }
}
