//! Retention: which snapshots to keep, with restic's semantics.
//!
//! Snapshots are grouped by source. Within a group, newest first, each rule
//! keeps snapshots independently and a snapshot is kept when any rule keeps
//! it (it then counts for every rule it satisfies):
//!
//! - `keep_last n`: the n newest;
//! - `keep_hourly/daily/weekly/monthly/yearly n`: the newest snapshot of each
//!   of the n most recent hours/days/ISO weeks/months/years that have one,
//!   bucketed in local time;
//! - `keep_within d`: every snapshot at most `d` older than the group's newest;
//! - `keep_tags`: every snapshot carrying one of these tags;
//! - snapshots whose reason is `pre-restore` are kept unless
//!   `forget_pre_restore` is set. They never take a rule's place from a
//!   backup: the rules count backups and safety snapshots apart, so a
//!   restore's safety snapshot cannot push the last real backup out of
//!   `keep_last 1`.
//!
//! A policy with no rule keeps everything (the caller should refuse to run).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Local, TimeZone, Timelike, Utc};
use serde::Serialize;

/// What retention needs to know about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Snapshot id (opaque here).
    pub id: String,
    /// When the snapshot was taken.
    pub time: DateTime<Utc>,
    /// Tags of the snapshot.
    pub tags: Vec<String>,
    /// Grouping key: the source (database) the snapshot belongs to.
    pub group: String,
    /// Why it was taken (`scheduled`, `manual`, `pre-restore`, ...).
    pub reason: String,
}

/// The reason given to keep snapshots taken before a restore.
pub const PRE_RESTORE: &str = "pre-restore";

/// A retention policy. `None` or empty disables a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep the n newest.
    pub keep_last: Option<u32>,
    /// Keep the newest of each of the n most recent hours.
    pub keep_hourly: Option<u32>,
    /// Keep the newest of each of the n most recent days.
    pub keep_daily: Option<u32>,
    /// Keep the newest of each of the n most recent ISO weeks.
    pub keep_weekly: Option<u32>,
    /// Keep the newest of each of the n most recent months.
    pub keep_monthly: Option<u32>,
    /// Keep the newest of each of the n most recent years.
    pub keep_yearly: Option<u32>,
    /// Keep everything within this duration of the group's newest snapshot.
    pub keep_within: Option<chrono::Duration>,
    /// Keep snapshots carrying any of these tags.
    pub keep_tags: Vec<String>,
    /// Also apply the rules to `pre-restore` snapshots (normally always kept).
    pub forget_pre_restore: bool,
}

impl RetentionPolicy {
    /// True when no rule is set: applying it would keep everything.
    pub fn is_empty(&self) -> bool {
        self.keep_last.is_none()
            && self.keep_hourly.is_none()
            && self.keep_daily.is_none()
            && self.keep_weekly.is_none()
            && self.keep_monthly.is_none()
            && self.keep_yearly.is_none()
            && self.keep_within.is_none()
            && self.keep_tags.is_empty()
    }
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeepReason {
    /// One of the n newest.
    Last,
    /// Newest of its hour.
    Hourly,
    /// Newest of its day.
    Daily,
    /// Newest of its ISO week.
    Weekly,
    /// Newest of its month.
    Monthly,
    /// Newest of its year.
    Yearly,
    /// Within the `keep_within` duration.
    Within,
    /// Carries this tag.
    Tag(String),
    /// Taken before a restore.
    PreRestore,
    /// The policy has no rule at all.
    NoPolicy,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::Last => f.write_str("last snapshot"),
            KeepReason::Hourly => f.write_str("hourly snapshot"),
            KeepReason::Daily => f.write_str("daily snapshot"),
            KeepReason::Weekly => f.write_str("weekly snapshot"),
            KeepReason::Monthly => f.write_str("monthly snapshot"),
            KeepReason::Yearly => f.write_str("yearly snapshot"),
            KeepReason::Within => f.write_str("within duration"),
            KeepReason::Tag(t) => write!(f, "tagged {t}"),
            KeepReason::PreRestore => f.write_str("taken before a restore"),
            KeepReason::NoPolicy => f.write_str("no retention rule given"),
        }
    }
}

/// The decision for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgetResult {
    /// The snapshot.
    pub snapshot: SnapshotInfo,
    /// Why it is kept; empty means it is removed.
    pub reasons: Vec<KeepReason>,
}

impl ForgetResult {
    /// True when the snapshot is kept.
    pub fn keep(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// The decisions for one group, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgetGroup {
    /// The group key (source).
    pub group: String,
    /// Every snapshot of the group, newest first.
    pub snapshots: Vec<ForgetResult>,
}

impl ForgetGroup {
    /// Snapshots kept.
    pub fn kept(&self) -> impl Iterator<Item = &ForgetResult> {
        self.snapshots.iter().filter(|s| s.keep())
    }

    /// Snapshots to remove.
    pub fn removed(&self) -> impl Iterator<Item = &ForgetResult> {
        self.snapshots.iter().filter(|s| !s.keep())
    }
}

/// Applies a policy, bucketing times in the local time zone.
pub fn apply_policy(snapshots: &[SnapshotInfo], policy: &RetentionPolicy) -> Vec<ForgetGroup> {
    apply_policy_in(snapshots, policy, &Local)
}

/// Applies a policy, bucketing times in the given time zone. Groups come out
/// sorted by key.
pub fn apply_policy_in<Tz: TimeZone>(
    snapshots: &[SnapshotInfo],
    policy: &RetentionPolicy,
    tz: &Tz,
) -> Vec<ForgetGroup> {
    let mut groups: BTreeMap<&str, Vec<&SnapshotInfo>> = BTreeMap::new();
    for s in snapshots {
        groups.entry(s.group.as_str()).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|(group, mut list)| {
            // Newest first; ties broken by id for a stable outcome.
            let newest_first = |a: &&SnapshotInfo, b: &&SnapshotInfo| {
                b.time.cmp(&a.time).then_with(|| a.id.cmp(&b.id))
            };
            list.sort_by(newest_first);
            let (safety, backups): (Vec<&SnapshotInfo>, Vec<&SnapshotInfo>) =
                list.iter().partition(|s| s.reason == PRE_RESTORE);
            let mut snapshots = decide_group(&backups, policy, tz);
            snapshots.extend(decide_group(&safety, policy, tz));
            snapshots.sort_by(|a, b| newest_first(&&a.snapshot, &&b.snapshot));
            ForgetGroup {
                group: group.to_owned(),
                snapshots,
            }
        })
        .collect()
}

type BucketFn<Tz> = fn(&DateTime<Tz>) -> i64;

fn decide_group<Tz: TimeZone>(
    list: &[&SnapshotInfo],
    policy: &RetentionPolicy,
    tz: &Tz,
) -> Vec<ForgetResult> {
    let mut results: Vec<ForgetResult> = list
        .iter()
        .map(|s| ForgetResult {
            snapshot: (*s).clone(),
            reasons: Vec::new(),
        })
        .collect();
    if policy.is_empty() {
        for r in &mut results {
            r.reasons.push(KeepReason::NoPolicy);
        }
        return results;
    }

    let local: Vec<DateTime<Tz>> = list.iter().map(|s| s.time.with_timezone(tz)).collect();

    if let Some(n) = policy.keep_last {
        for r in results.iter_mut().take(n as usize) {
            r.reasons.push(KeepReason::Last);
        }
    }

    let bucket_rules: [(Option<u32>, BucketFn<Tz>, KeepReason); 5] = [
        (
            policy.keep_hourly,
            |t| {
                i64::from(t.year()) * 1_000_000 + i64::from(t.ordinal()) * 100 + i64::from(t.hour())
            },
            KeepReason::Hourly,
        ),
        (
            policy.keep_daily,
            |t| i64::from(t.year()) * 1000 + i64::from(t.ordinal()),
            KeepReason::Daily,
        ),
        (
            policy.keep_weekly,
            |t| {
                let w = t.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            },
            KeepReason::Weekly,
        ),
        (
            policy.keep_monthly,
            |t| i64::from(t.year()) * 100 + i64::from(t.month()),
            KeepReason::Monthly,
        ),
        (
            policy.keep_yearly,
            |t| i64::from(t.year()),
            KeepReason::Yearly,
        ),
    ];
    for (count, bucket, reason) in bucket_rules {
        let Some(mut left) = count else {
            continue;
        };
        let mut last_bucket = None;
        for (r, t) in results.iter_mut().zip(&local) {
            if left == 0 {
                break;
            }
            let b = bucket(t);
            if last_bucket != Some(b) {
                last_bucket = Some(b);
                r.reasons.push(reason.clone());
                left -= 1;
            }
        }
    }

    if let (Some(within), Some(newest)) = (policy.keep_within, list.first()) {
        // a window reaching before the calendar's start keeps everything
        let cutoff = newest.time.checked_sub_signed(within);
        for r in &mut results {
            if cutoff.is_none_or(|c| r.snapshot.time >= c) {
                r.reasons.push(KeepReason::Within);
            }
        }
    }

    for r in &mut results {
        if let Some(tag) = policy
            .keep_tags
            .iter()
            .find(|t| r.snapshot.tags.contains(t))
        {
            r.reasons.push(KeepReason::Tag(tag.clone()));
        }
        if !policy.forget_pre_restore && r.snapshot.reason == PRE_RESTORE {
            r.reasons.push(KeepReason::PreRestore);
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn snap(id: &str, time: &str) -> SnapshotInfo {
        SnapshotInfo {
            id: id.into(),
            time: DateTime::parse_from_rfc3339(time)
                .unwrap()
                .with_timezone(&Utc),
            tags: vec![],
            group: "sqlite:///app.db".into(),
            reason: "scheduled".into(),
        }
    }

    fn kept(groups: &[ForgetGroup]) -> Vec<String> {
        groups
            .iter()
            .flat_map(|g| g.kept().map(|r| r.snapshot.id.clone()))
            .collect()
    }

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    /// One snapshot every 6 hours for 60 days, ids s0 (oldest) ..
    fn series() -> Vec<SnapshotInfo> {
        let start = DateTime::parse_from_rfc3339("2024-01-01T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        (0..240)
            .map(|i| SnapshotInfo {
                id: format!("s{i:03}"),
                time: start + chrono::Duration::hours(6 * i),
                tags: vec![],
                group: "g".into(),
                reason: "scheduled".into(),
            })
            .collect()
    }

    #[test]
    fn empty_policy_keeps_everything() {
        let s = vec![
            snap("a", "2024-01-01T00:00:00Z"),
            snap("b", "2024-01-02T00:00:00Z"),
        ];
        let g = apply_policy_in(&s, &RetentionPolicy::default(), &utc());
        assert_eq!(kept(&g).len(), 2);
        assert!(g[0].snapshots[0].reasons.contains(&KeepReason::NoPolicy));
    }

    /// A `keep-within` of a hundred billion days once overflowed the
    /// date arithmetic and crashed forget: it keeps everything instead.
    #[test]
    fn keep_within_beyond_the_calendar_keeps_everything() {
        let p = RetentionPolicy {
            keep_within: chrono::Duration::try_days(100_000_000_000 / 1000),
            ..Default::default()
        };
        assert!(p.keep_within.is_some());
        let g = apply_policy_in(&series(), &p, &utc());
        assert_eq!(kept(&g).len(), 240);
        let p = RetentionPolicy {
            keep_within: Some(chrono::Duration::MAX),
            ..Default::default()
        };
        assert_eq!(kept(&apply_policy_in(&series(), &p, &utc())).len(), 240);
    }

    #[test]
    fn keep_last() {
        let p = RetentionPolicy {
            keep_last: Some(3),
            ..Default::default()
        };
        let g = apply_policy_in(&series(), &p, &utc());
        assert_eq!(kept(&g), vec!["s239", "s238", "s237"]);
        assert_eq!(g[0].removed().count(), 237);
    }

    #[test]
    fn keep_daily_takes_newest_per_day() {
        let p = RetentionPolicy {
            keep_daily: Some(3),
            ..Default::default()
        };
        let g = apply_policy_in(&series(), &p, &utc());
        // 4 per day (03, 09, 15, 21h); newest of each day is the 21h one.
        assert_eq!(kept(&g), vec!["s239", "s235", "s231"]);
    }

    #[test]
    fn rules_overlap_and_reasons_accumulate() {
        let p = RetentionPolicy {
            keep_last: Some(1),
            keep_daily: Some(2),
            keep_monthly: Some(2),
            ..Default::default()
        };
        let g = apply_policy_in(&series(), &p, &utc());
        let first = &g[0].snapshots[0];
        assert_eq!(
            first.reasons,
            vec![KeepReason::Last, KeepReason::Daily, KeepReason::Monthly]
        );
        // Months: Feb (newest s239), Jan (newest: Jan 31 21:00 = index 123).
        assert_eq!(kept(&g), vec!["s239", "s235", "s123"]);
    }

    #[test]
    fn weekly_uses_iso_weeks_and_yearly() {
        let p = RetentionPolicy {
            keep_weekly: Some(2),
            keep_yearly: Some(5),
            ..Default::default()
        };
        let s = vec![
            snap("sun", "2024-03-10T12:00:00Z"), // ISO week 10
            snap("mon", "2024-03-11T12:00:00Z"), // ISO week 11
            snap("tue", "2024-03-12T12:00:00Z"), // ISO week 11
            snap("old", "2023-06-01T12:00:00Z"),
        ];
        let g = apply_policy_in(&s, &p, &utc());
        assert_eq!(kept(&g), vec!["tue", "sun", "old"]);
    }

    #[test]
    fn buckets_follow_the_time_zone() {
        // 23:30 UTC and 00:30 UTC next day: different days in UTC, same day at UTC-2.
        let s = vec![
            snap("a", "2024-05-01T23:30:00Z"),
            snap("b", "2024-05-02T00:30:00Z"),
        ];
        let p = RetentionPolicy {
            keep_daily: Some(10),
            ..Default::default()
        };
        assert_eq!(kept(&apply_policy_in(&s, &p, &utc())).len(), 2);
        let minus2 = FixedOffset::west_opt(2 * 3600).unwrap();
        assert_eq!(kept(&apply_policy_in(&s, &p, &minus2)), vec!["b"]);
    }

    #[test]
    fn within_is_relative_to_newest() {
        let p = RetentionPolicy {
            keep_within: Some(chrono::Duration::days(1)),
            ..Default::default()
        };
        let g = apply_policy_in(&series(), &p, &utc());
        assert_eq!(kept(&g), vec!["s239", "s238", "s237", "s236", "s235"]);
    }

    /// After a restore, `keep_last 1` kept only the restore's safety
    /// snapshot and removed the one backup that had been restored.
    #[test]
    fn a_safety_snapshot_never_takes_a_backups_place() {
        let mut s = series();
        s[239].reason = PRE_RESTORE.into();
        let p = RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        };
        let g = apply_policy_in(&s, &p, &utc());
        assert_eq!(kept(&g), vec!["s239", "s238"]);
        let p = RetentionPolicy {
            forget_pre_restore: true,
            ..p
        };
        // counted apart also when safety snapshots are subject to the rules
        let g = apply_policy_in(&s, &p, &utc());
        assert_eq!(kept(&g), vec!["s239", "s238"]);
        s[200].reason = PRE_RESTORE.into();
        let g = apply_policy_in(&s, &p, &utc());
        assert_eq!(kept(&g), vec!["s239", "s238"]);
    }

    #[test]
    fn tags_and_pre_restore() {
        let mut s = series();
        s[10].tags = vec!["keep-me".into()];
        s[20].reason = PRE_RESTORE.into();
        let mut p = RetentionPolicy {
            keep_last: Some(1),
            keep_tags: vec!["keep-me".into()],
            ..Default::default()
        };
        let g = apply_policy_in(&s, &p, &utc());
        assert_eq!(kept(&g), vec!["s239", "s020", "s010"]);
        let r = g[0]
            .snapshots
            .iter()
            .find(|r| r.snapshot.id == "s010")
            .unwrap();
        assert_eq!(r.reasons, vec![KeepReason::Tag("keep-me".into())]);
        assert_eq!(r.reasons[0].to_string(), "tagged keep-me");
        // subject to the rules, safety snapshots count in their own series:
        // the newest is the last one, the one before goes
        p.forget_pre_restore = true;
        assert_eq!(
            kept(&apply_policy_in(&s, &p, &utc())),
            vec!["s239", "s020", "s010"]
        );
        s[5].reason = PRE_RESTORE.into();
        assert_eq!(
            kept(&apply_policy_in(&s, &p, &utc())),
            vec!["s239", "s020", "s010"]
        );
    }

    #[test]
    fn groups_are_independent() {
        let mut s = vec![
            snap("a1", "2024-01-01T00:00:00Z"),
            snap("a2", "2024-01-02T00:00:00Z"),
        ];
        let mut b = snap("b1", "2023-01-01T00:00:00Z");
        b.group = "postgres://db".into();
        s.push(b);
        let p = RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        };
        let g = apply_policy_in(&s, &p, &utc());
        assert_eq!(g.len(), 2);
        assert_eq!(kept(&g), vec!["b1", "a2"]);
    }

    #[test]
    fn more_buckets_than_snapshots_keeps_all() {
        let p = RetentionPolicy {
            keep_hourly: Some(1000),
            ..Default::default()
        };
        let g = apply_policy_in(&series(), &p, &utc());
        assert_eq!(kept(&g).len(), 240);
        assert_eq!(apply_policy(&[], &p).len(), 0);
    }
}
