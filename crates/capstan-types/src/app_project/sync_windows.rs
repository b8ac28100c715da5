//! Sync windows: when a window is active, which applications it applies to, and whether a
//! project's windows let a sync run now, with Argo CD's exact semantics (`types.go`:
//! `SyncWindow.active`, `SyncWindows.Matches`, `SyncWindows.CanSync`).

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::cron::{Schedule, ScheduleError, load_location};
use super::permissions::glob_match;
use super::{AppProject, SyncWindow, SyncWindowKind};
use crate::settings::{DurationError, parse_go_duration_nanos};

/// Why a sync window cannot be evaluated. Argo CD refuses to decide (and so to sync) in these
/// cases: `CanSync` returns `invalid sync windows: ...`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncWindowError {
    /// `schedule` is not a cron expression Argo CD accepts.
    #[error("cannot parse schedule {schedule:?}: {source}")]
    Schedule {
        /// The schedule as written.
        schedule: String,
        /// What is wrong with it.
        source: ScheduleError,
    },
    /// `duration` is not a Go duration.
    #[error("cannot parse duration {duration:?}: {source}")]
    Duration {
        /// The duration as written.
        duration: String,
        /// What is wrong with it.
        source: DurationError,
    },
    /// A window of the project, by its index in `spec.syncWindows`, cannot be evaluated.
    #[error("invalid sync windows: window {index}: {source}")]
    Window {
        /// Index of the window in `spec.syncWindows` (the ID the Argo CD CLI shows).
        index: usize,
        /// What is wrong with it.
        source: Box<SyncWindowError>,
    },
}

impl SyncWindow {
    /// Whether the window is active at `at`, exactly as Argo CD's `SyncWindow.active`.
    ///
    /// `schedule` is a five-field cron expression (minute, hour, day of month, month, day of
    /// week; names such as `mon-fri` and `jan` allowed; no `@hourly`-style descriptors, which
    /// Argo CD rejects; an optional `CRON_TZ=<zone>` prefix), and `duration` a Go duration
    /// (`1h30m`). The window is active strictly after a start time and strictly before that
    /// start plus `duration`: at the very instant a window starts, and at the instant it ends,
    /// it is not active.
    ///
    /// `timeZone` (an IANA name; UTC when empty) is applied as Argo CD applies it: the schedule
    /// is read as wall-clock time at the zone's UTC offset at `at`. Across a daylight saving
    /// change this means a start time in the skipped hour does not occur that day and one in
    /// the repeated hour occurs twice. An unknown zone name (names are case-sensitive, as
    /// Go's) falls back to UTC, as Argo CD does; `Local` is taken as UTC.
    ///
    /// A schedule with no start time in the five years from `at` minus `duration` (such as
    /// `0 0 30 2 *`, February 30) makes the window active at every instant: robfig/cron
    /// returns its zero time, which Argo CD compares as "before now".
    ///
    /// ```
    /// use capstan_types::app_project::SyncWindow;
    ///
    /// let window = SyncWindow {
    ///     schedule: "0 9 * * mon-fri".into(),
    ///     duration: "8h".into(),
    ///     time_zone: "Europe/Berlin".into(),
    ///     ..Default::default()
    /// };
    /// // Friday 2024-03-08, 12:00 in Berlin (11:00 UTC).
    /// assert!(window.is_active_at("2024-03-08T11:00:00Z".parse().unwrap()).unwrap());
    /// // Saturday.
    /// assert!(!window.is_active_at("2024-03-09T11:00:00Z".parse().unwrap()).unwrap());
    /// ```
    pub fn is_active_at(&self, at: Timestamp) -> Result<bool, SyncWindowError> {
        let schedule =
            Schedule::parse(&self.schedule).map_err(|source| SyncWindowError::Schedule {
                schedule: self.schedule.clone(),
                source,
            })?;
        let duration = parse_go_duration_nanos(&self.duration)
            .map(SignedDuration::from_nanos)
            .map_err(|source| SyncWindowError::Duration {
                duration: self.duration.clone(),
                source,
            })?;
        let zone = load_location(&self.time_zone).unwrap_or(TimeZone::UTC);
        let offset = SignedDuration::from_secs(i64::from(zone.to_offset(at).seconds()));
        // Argo CD: next := schedule.Next(now + offset - duration); active := next < now + offset.
        let shifted = |by: SignedDuration| at.checked_add(by).ok();
        let (Some(now), Some(from)) = (
            shifted(offset),
            offset.checked_sub(duration).and_then(shifted),
        ) else {
            // Beyond the representable range: no start time can be found, as for robfig's
            // zero time.
            return Ok(true);
        };
        Ok(match schedule.next(from) {
            Some(next) => next < now,
            None => true,
        })
    }

    /// Whether the window applies to the application named `application` whose destination is
    /// `namespace` on the cluster with API server URL `server` and name `cluster_name`, exactly
    /// as Argo CD's `SyncWindows.Matches`.
    ///
    /// Argo CD matches the destination as the Application's spec writes it: pass
    /// `spec.destination.server` and `spec.destination.name` (either may be empty; an empty
    /// value matches no `clusters` entry).
    ///
    /// `applications`, `namespaces` and `clusters` hold globs (no separators, no `!`
    /// negation; `*` matches everything, including an empty namespace); a `clusters` entry
    /// matches the cluster's name or its server URL. By default the window applies when any
    /// non-empty list has a matching entry; with `andOperator: true`, every non-empty list
    /// must. A window whose lists are all empty applies to nothing.
    pub fn matches(
        &self,
        application: &str,
        namespace: &str,
        server: &str,
        cluster_name: &str,
    ) -> bool {
        let glob = |pattern: &String, value: &str| glob_match(pattern, value, false, &[]);
        let and = self.and_operator == Some(true);
        let mut matched = false;
        let mut set = false;
        if !self.applications.is_empty() {
            set = true;
            matched = self.applications.iter().any(|a| glob(a, application));
        }
        if and && set && !matched {
            return false;
        }
        if !and && matched {
            return true;
        }
        if !self.clusters.is_empty() {
            set = true;
            matched = self.clusters.iter().any(|c| {
                (!cluster_name.is_empty() && glob(c, cluster_name))
                    || (!server.is_empty() && glob(c, server))
            });
        }
        if and && set && !matched {
            return false;
        }
        if !and && matched {
            return true;
        }
        if !self.namespaces.is_empty() {
            matched = self.namespaces.iter().any(|n| glob(n, namespace));
        }
        matched
    }

    fn is_kind(&self, kind: &SyncWindowKind) -> bool {
        self.kind.as_ref() == Some(kind)
    }

    fn allows_manual_sync(&self) -> bool {
        self.manual_sync == Some(true)
    }
}

/// Whether a project's sync windows let a sync run, and why; windows are identified by their
/// index in `spec.syncWindows` (the IDs the Argo CD CLI and UI show).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncDecision {
    /// No sync window applies to the application: the sync may run.
    NoMatchingWindows,
    /// Windows apply but none stands in the way: no deny window is active and no allow window
    /// applies. The sync may run.
    NotBlocked {
        /// The windows that apply (inactive deny windows, or windows of an unknown kind).
        windows: Vec<usize>,
    },
    /// An applying allow window is active and no applying deny window is: the sync may run.
    AllowWindowActive {
        /// The active allow windows.
        windows: Vec<usize>,
    },
    /// Applying deny windows are active: the sync is blocked (deny wins over allow).
    BlockedByDenyWindows {
        /// The active deny windows that block it: all of them for an automated sync, those
        /// without `manualSync` for a manual one.
        windows: Vec<usize>,
    },
    /// Applying deny windows are active, but every one allows manual syncs and this sync is
    /// manual: the sync may run.
    ManualSyncDuringDenyWindows {
        /// The active deny windows.
        windows: Vec<usize>,
    },
    /// Allow windows apply to the application and none is active: the sync is blocked.
    OutsideAllowWindows {
        /// The inactive allow windows that block it: all of them for an automated sync, those
        /// without `manualSync` for a manual one.
        windows: Vec<usize>,
    },
    /// Allow windows apply and none is active, but every one allows manual syncs and this sync
    /// is manual: the sync may run.
    ManualSyncOutsideAllowWindows {
        /// The inactive allow windows.
        windows: Vec<usize>,
    },
}

impl SyncDecision {
    /// Whether the sync may run.
    pub fn is_allowed(&self) -> bool {
        !matches!(
            self,
            SyncDecision::BlockedByDenyWindows { .. } | SyncDecision::OutsideAllowWindows { .. }
        )
    }

    /// The windows behind the decision (empty for [`SyncDecision::NoMatchingWindows`]).
    pub fn windows(&self) -> &[usize] {
        match self {
            SyncDecision::NoMatchingWindows => &[],
            SyncDecision::NotBlocked { windows }
            | SyncDecision::AllowWindowActive { windows }
            | SyncDecision::BlockedByDenyWindows { windows }
            | SyncDecision::ManualSyncDuringDenyWindows { windows }
            | SyncDecision::OutsideAllowWindows { windows }
            | SyncDecision::ManualSyncOutsideAllowWindows { windows } => windows,
        }
    }
}

/// `window 1` or `windows 0, 2`.
struct WindowList<'a>(&'a [usize]);

impl fmt::Display for WindowList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.len() == 1 {
            "window "
        } else {
            "windows "
        })?;
        for (i, index) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{index}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SyncDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncDecision::NoMatchingWindows => f.write_str("no sync window applies"),
            SyncDecision::NotBlocked { windows } => write!(
                f,
                "no sync window blocks the sync (applying: {})",
                WindowList(windows)
            ),
            SyncDecision::AllowWindowActive { windows } => {
                write!(f, "sync allowed by active allow {}", WindowList(windows))
            }
            SyncDecision::BlockedByDenyWindows { windows } => {
                write!(f, "sync blocked by active deny {}", WindowList(windows))
            }
            SyncDecision::ManualSyncDuringDenyWindows { windows } => write!(
                f,
                "manual sync allowed during active deny {}",
                WindowList(windows)
            ),
            SyncDecision::OutsideAllowWindows { windows } => {
                write!(f, "sync blocked outside allow {}", WindowList(windows))
            }
            SyncDecision::ManualSyncOutsideAllowWindows { windows } => write!(
                f,
                "manual sync allowed outside allow {}",
                WindowList(windows)
            ),
        }
    }
}

impl AppProject {
    /// The indices in `spec.syncWindows` of the windows that apply to an application; see
    /// [`SyncWindow::matches`] for the arguments.
    pub fn matching_sync_windows(
        &self,
        application: &str,
        namespace: &str,
        server: &str,
        cluster_name: &str,
    ) -> Vec<usize> {
        self.spec
            .sync_windows
            .iter()
            .enumerate()
            .filter(|(_, window)| window.matches(application, namespace, server, cluster_name))
            .map(|(index, _)| index)
            .collect()
    }

    /// Whether the project's sync windows let the application sync at `at`, exactly as Argo
    /// CD's `proj.Spec.SyncWindows.Matches(app).CanSync(manual, nil)`. The application is
    /// identified as for [`SyncWindow::matches`]; `manual` is whether a user asked for the
    /// sync (as opposed to automated sync).
    ///
    /// Only the windows that apply to the application count:
    ///
    /// 1. none apply: allowed;
    /// 2. a deny window is active: blocked, unless the sync is manual and every active deny
    ///    window has `manualSync` (deny wins over any active allow window);
    /// 3. an allow window is active: allowed;
    /// 4. allow windows apply but none is active: blocked, unless the sync is manual and
    ///    every one of them has `manualSync`;
    /// 5. otherwise (only inactive deny windows): allowed.
    ///
    /// Every applying window must be valid: one whose schedule or duration Argo CD cannot
    /// parse makes the whole decision an error (Argo CD then does not sync). Windows that do
    /// not apply are not evaluated. `syncOverrun` (letting a running sync finish after its
    /// window closes) is not considered: this is the decision for starting a sync.
    ///
    /// ```
    /// use capstan_types::AppProject;
    /// use capstan_types::app_project::{SyncDecision, SyncWindow, SyncWindowKind};
    ///
    /// let mut project = AppProject::new("team", Default::default());
    /// project.spec.sync_windows = vec![SyncWindow {
    ///     kind: Some(SyncWindowKind::Deny),
    ///     schedule: "0 22 * * *".into(),
    ///     duration: "8h".into(),
    ///     applications: vec!["*".into()],
    ///     manual_sync: Some(true),
    ///     ..Default::default()
    /// }];
    /// let night = "2024-03-05T01:00:00Z".parse().unwrap();
    /// let decision = project.sync_allowed("web", "team-a", "https://kubernetes.default.svc", "in-cluster", false, night).unwrap();
    /// assert_eq!(decision, SyncDecision::BlockedByDenyWindows { windows: vec![0] });
    /// assert_eq!(decision.to_string(), "sync blocked by active deny window 0");
    /// let manual = project.sync_allowed("web", "team-a", "https://kubernetes.default.svc", "in-cluster", true, night).unwrap();
    /// assert!(manual.is_allowed());
    /// ```
    pub fn sync_allowed(
        &self,
        application: &str,
        namespace: &str,
        server: &str,
        cluster_name: &str,
        manual: bool,
        at: Timestamp,
    ) -> Result<SyncDecision, SyncWindowError> {
        let matching = self.matching_sync_windows(application, namespace, server, cluster_name);
        if matching.is_empty() {
            return Ok(SyncDecision::NoMatchingWindows);
        }
        let windows = &self.spec.sync_windows;
        let mut active = Vec::new();
        for &index in &matching {
            let is_active =
                windows[index]
                    .is_active_at(at)
                    .map_err(|source| SyncWindowError::Window {
                        index,
                        source: Box::new(source),
                    })?;
            if is_active {
                active.push(index);
            }
        }
        let of_kind = |indices: &[usize], kind: SyncWindowKind| -> Vec<usize> {
            indices
                .iter()
                .copied()
                .filter(|&index| windows[index].is_kind(&kind))
                .collect()
        };
        let without_manual_sync = |indices: &[usize]| -> Vec<usize> {
            indices
                .iter()
                .copied()
                .filter(|&index| !windows[index].allows_manual_sync())
                .collect()
        };

        let active_deny = of_kind(&active, SyncWindowKind::Deny);
        if !active_deny.is_empty() {
            let blocking = without_manual_sync(&active_deny);
            return Ok(if manual && blocking.is_empty() {
                SyncDecision::ManualSyncDuringDenyWindows {
                    windows: active_deny,
                }
            } else {
                SyncDecision::BlockedByDenyWindows {
                    windows: if manual { blocking } else { active_deny },
                }
            });
        }

        let active_allow = of_kind(&active, SyncWindowKind::Allow);
        if !active_allow.is_empty() {
            return Ok(SyncDecision::AllowWindowActive {
                windows: active_allow,
            });
        }

        let inactive: Vec<usize> = matching
            .iter()
            .copied()
            .filter(|index| !active.contains(index))
            .collect();
        let inactive_allow = of_kind(&inactive, SyncWindowKind::Allow);
        if !inactive_allow.is_empty() {
            let blocking = without_manual_sync(&inactive_allow);
            return Ok(if manual && blocking.is_empty() {
                SyncDecision::ManualSyncOutsideAllowWindows {
                    windows: inactive_allow,
                }
            } else {
                SyncDecision::OutsideAllowWindows {
                    windows: if manual { blocking } else { inactive_allow },
                }
            });
        }

        Ok(SyncDecision::NotBlocked { windows: matching })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_project::AppProjectSpec;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn window(schedule: &str, duration: &str, time_zone: &str) -> SyncWindow {
        SyncWindow {
            schedule: schedule.into(),
            duration: duration.into(),
            time_zone: time_zone.into(),
            ..Default::default()
        }
    }

    #[test]
    fn active() {
        // (schedule, duration, timeZone, at, active)
        let cases = [
            // Argo CD's TestSyncWindow_Active: `* 10 * * *` starts every minute of 10:xx.
            ("* 10 * * *", "2h", "", "2024-03-04T11:00:00Z", true),
            ("* 10 * * *", "2h", "", "2024-03-04T13:00:00Z", false),
            ("* 10 * * *", "2h", "", "2024-03-04T07:00:00-04:00", true),
            ("* 10 * * *", "2h", "", "2024-03-04T09:00:00-04:00", false),
            // The interval is open at both ends.
            (
                "0 10 * * *",
                "1h",
                "",
                "2024-03-04T09:59:59.999999999Z",
                false,
            ),
            ("0 10 * * *", "1h", "", "2024-03-04T10:00:00Z", false),
            (
                "0 10 * * *",
                "1h",
                "",
                "2024-03-04T10:00:00.000000001Z",
                true,
            ),
            (
                "0 10 * * *",
                "1h",
                "",
                "2024-03-04T10:59:59.999999999Z",
                true,
            ),
            ("0 10 * * *", "1h", "", "2024-03-04T11:00:00Z", false),
            // Zero and negative durations never open.
            ("0 10 * * *", "0", "", "2024-03-04T10:00:30Z", false),
            ("0 10 * * *", "-1h", "", "2024-03-04T10:30:00Z", false),
            // Durations longer than the period keep the window open; windows cross midnight.
            ("0 * * * *", "2h", "", "2024-03-04T17:00:00Z", true),
            ("0 22 * * *", "4h", "", "2024-03-05T01:00:00Z", true),
            ("0 22 * * *", "4h", "", "2024-03-05T02:00:00Z", false),
            ("0 22 * * *", "90m", "", "2024-03-04T23:29:59Z", true),
            ("0 22 * * *", "90m", "", "2024-03-04T23:30:01Z", false),
            // Days of the week (2024-03-08 is a Friday).
            ("0 9 * * mon-fri", "8h", "", "2024-03-08T12:00:00Z", true),
            ("0 9 * * mon-fri", "8h", "", "2024-03-09T12:00:00Z", false),
            // Zones without daylight saving time.
            (
                "0 9 * * *",
                "1h",
                "Asia/Tokyo",
                "2024-03-04T00:30:00Z",
                true,
            ),
            (
                "0 9 * * *",
                "1h",
                "Asia/Tokyo",
                "2024-03-04T09:30:00Z",
                false,
            ),
            (
                "0 9 * * *",
                "1h",
                "Asia/Kolkata",
                "2024-03-04T03:45:00Z",
                true,
            ),
            (
                "0 9 * * *",
                "1h",
                "Asia/Kolkata",
                "2024-03-04T03:15:00Z",
                false,
            ),
            (
                "30 6 * * *",
                "30m",
                "Asia/Kathmandu",
                "2024-03-04T00:50:00Z",
                true,
            ),
            (
                "30 6 * * *",
                "30m",
                "Asia/Kathmandu",
                "2024-03-04T01:20:00Z",
                false,
            ),
            (
                "0 9 * * 1-5",
                "8h",
                "America/Sao_Paulo",
                "2024-03-08T12:30:00Z",
                true,
            ),
            (
                "0 9 * * 1-5",
                "8h",
                "America/Sao_Paulo",
                "2024-03-09T12:30:00Z",
                false,
            ),
            // The weekday is the zone's: Monday 08:30 at UTC+14 is Sunday 18:30 UTC.
            (
                "0 8 * * mon",
                "1h",
                "Pacific/Kiritimati",
                "2024-03-03T18:30:00Z",
                true,
            ),
            ("0 8 * * mon", "1h", "", "2024-03-03T18:30:00Z", false),
            // Daylight saving time: the offset in force at `at` applies.
            (
                "0 9 * * *",
                "1h",
                "America/New_York",
                "2024-01-15T14:30:00Z",
                true,
            ),
            (
                "0 9 * * *",
                "1h",
                "America/New_York",
                "2024-07-15T13:30:00Z",
                true,
            ),
            (
                "0 9 * * *",
                "1h",
                "America/New_York",
                "2024-07-15T14:30:00Z",
                false,
            ),
            // Berlin springs forward at 01:00 UTC on 2024-03-31: 02:00 local never happens that
            // day, so a 02:00 window does not open; it does the next day.
            (
                "0 2 * * *",
                "1h",
                "Europe/Berlin",
                "2024-03-31T00:30:00Z",
                false,
            ),
            (
                "0 2 * * *",
                "1h",
                "Europe/Berlin",
                "2024-03-31T01:30:00Z",
                false,
            ),
            (
                "0 2 * * *",
                "1h",
                "Europe/Berlin",
                "2024-04-01T00:30:00Z",
                true,
            ),
            // Berlin falls back at 01:00 UTC on 2024-10-27: 02:30-03:00 local happens twice.
            (
                "30 2 * * *",
                "30m",
                "Europe/Berlin",
                "2024-10-27T00:45:00Z",
                true,
            ),
            (
                "30 2 * * *",
                "30m",
                "Europe/Berlin",
                "2024-10-27T01:45:00Z",
                true,
            ),
            (
                "30 2 * * *",
                "30m",
                "Europe/Berlin",
                "2024-10-27T01:15:00Z",
                false,
            ),
            // Unknown (or wrongly cased) zones fall back to UTC.
            (
                "0 10 * * *",
                "1h",
                "Nowhere/City",
                "2024-03-04T10:30:00Z",
                true,
            ),
            (
                "0 9 * * *",
                "1h",
                "asia/tokyo",
                "2024-03-04T00:30:00Z",
                false,
            ),
            (
                "0 9 * * *",
                "1h",
                "asia/tokyo",
                "2024-03-04T09:30:00Z",
                true,
            ),
            // A CRON_TZ prefix evaluates the schedule in its zone.
            (
                "CRON_TZ=Asia/Tokyo 0 9 * * *",
                "1h",
                "",
                "2024-03-04T00:30:00Z",
                true,
            ),
            (
                "CRON_TZ=Asia/Tokyo 0 9 * * *",
                "1h",
                "",
                "2024-03-04T09:30:00Z",
                false,
            ),
            // No start time within five years: active at every instant, as in Argo CD.
            ("0 0 30 2 *", "1h", "", "2024-03-04T10:30:00Z", true),
            ("0 0 30 2 *", "0", "UTC", "1999-12-31T23:59:59Z", true),
        ];
        for (schedule, duration, time_zone, at, expected) in cases {
            assert_eq!(
                window(schedule, duration, time_zone).is_active_at(ts(at)),
                Ok(expected),
                "{schedule:?} for {duration} in {time_zone:?} at {at}"
            );
        }
    }

    #[test]
    fn invalid_windows() {
        let at = ts("2024-03-04T10:30:00Z");
        let cases = [
            (
                window("", "1h", ""),
                SyncWindowError::Schedule {
                    schedule: String::new(),
                    source: ScheduleError::Empty,
                },
            ),
            (
                window("@hourly", "1h", ""),
                SyncWindowError::Schedule {
                    schedule: "@hourly".into(),
                    source: ScheduleError::Descriptor("@hourly".into()),
                },
            ),
            (
                window("* * * *", "1h", ""),
                SyncWindowError::Schedule {
                    schedule: "* * * *".into(),
                    source: ScheduleError::FieldCount(4),
                },
            ),
            (
                window("* * * * *", "", ""),
                SyncWindowError::Duration {
                    duration: String::new(),
                    source: DurationError::Empty,
                },
            ),
            (
                window("* * * * *", "1d", ""),
                SyncWindowError::Duration {
                    duration: "1d".into(),
                    source: DurationError::UnknownUnit { unit: "d".into() },
                },
            ),
        ];
        for (window, expected) in cases {
            assert_eq!(window.is_active_at(at), Err(expected), "{window:?}");
        }
    }

    fn selector(
        applications: &[&str],
        namespaces: &[&str],
        clusters: &[&str],
        and: Option<bool>,
    ) -> SyncWindow {
        let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
        SyncWindow {
            applications: strings(applications),
            namespaces: strings(namespaces),
            clusters: strings(clusters),
            and_operator: and,
            ..Default::default()
        }
    }

    #[test]
    fn matches() {
        const OR: Option<bool> = None;
        const AND: Option<bool> = Some(true);
        const SERVER: &str = "https://kubernetes.default.svc";
        // (window, application, namespace, server, cluster name, matches)
        let cases = [
            (
                selector(&["app1"], &[], &[], OR),
                "app1",
                "default",
                SERVER,
                "",
                true,
            ),
            (
                selector(&["app1"], &[], &[], OR),
                "app2",
                "default",
                SERVER,
                "",
                false,
            ),
            (
                selector(&["app-*"], &[], &[], OR),
                "app-web",
                "default",
                SERVER,
                "",
                true,
            ),
            (
                selector(&["{a,b}-*"], &[], &[], OR),
                "b-web",
                "default",
                SERVER,
                "",
                true,
            ),
            (selector(&["*"], &[], &[], OR), "anything", "", "", "", true),
            // No negation: `!app1` is a literal pattern.
            (
                selector(&["!app1"], &[], &[], OR),
                "app2",
                "default",
                SERVER,
                "",
                false,
            ),
            (
                selector(&["!app1"], &[], &[], OR),
                "!app1",
                "default",
                SERVER,
                "",
                true,
            ),
            // OR: any list with a match is enough.
            (
                selector(&["app*"], &["prod"], &[], OR),
                "app2",
                "dev",
                SERVER,
                "",
                true,
            ),
            (
                selector(&["app*"], &["prod"], &[], OR),
                "other",
                "prod",
                SERVER,
                "",
                true,
            ),
            (
                selector(&["app*"], &["prod"], &[], OR),
                "other",
                "dev",
                SERVER,
                "",
                false,
            ),
            (
                selector(&["app*"], &["prod"], &["c1"], Some(false)),
                "other",
                "dev",
                SERVER,
                "c1",
                true,
            ),
            // Clusters match the destination's name or server; empty values match nothing.
            (
                selector(&[], &[], &["in-cluster"], OR),
                "app",
                "default",
                SERVER,
                "in-cluster",
                true,
            ),
            (
                selector(&[], &[], &["in-cluster"], OR),
                "app",
                "default",
                SERVER,
                "",
                false,
            ),
            (
                selector(&[], &[], &["https://*"], OR),
                "app",
                "default",
                SERVER,
                "",
                true,
            ),
            (
                selector(&[], &[], &["*"], OR),
                "app",
                "default",
                "",
                "",
                false,
            ),
            // `*` matches an empty namespace.
            (selector(&[], &["*"], &[], OR), "app", "", SERVER, "", true),
            // Nothing selected: nothing matches, with either operator.
            (
                selector(&[], &[], &[], OR),
                "app",
                "default",
                SERVER,
                "in-cluster",
                false,
            ),
            (
                selector(&[], &[], &[], AND),
                "app",
                "default",
                SERVER,
                "in-cluster",
                false,
            ),
            // AND: every non-empty list must match.
            (
                selector(&["app*"], &["prod"], &[], AND),
                "app1",
                "prod",
                SERVER,
                "",
                true,
            ),
            (
                selector(&["app*"], &["prod"], &[], AND),
                "app1",
                "dev",
                SERVER,
                "",
                false,
            ),
            (
                selector(&["app*"], &["prod"], &[], AND),
                "other",
                "prod",
                SERVER,
                "",
                false,
            ),
            (
                selector(&["app*"], &[], &[], AND),
                "app1",
                "dev",
                SERVER,
                "",
                true,
            ),
            (
                selector(&[], &["prod"], &["c1"], AND),
                "x",
                "prod",
                SERVER,
                "c1",
                true,
            ),
            (
                selector(&[], &["prod"], &["c1"], AND),
                "x",
                "prod",
                SERVER,
                "c2",
                false,
            ),
            (
                selector(&[], &["prod"], &["c1"], AND),
                "x",
                "dev",
                SERVER,
                "c1",
                false,
            ),
            (
                selector(&["*"], &["*"], &["c1"], AND),
                "x",
                "dev",
                SERVER,
                "c1",
                true,
            ),
            (
                selector(&["*"], &["*"], &["c1"], AND),
                "x",
                "dev",
                SERVER,
                "c2",
                false,
            ),
        ];
        for (window, application, namespace, server, cluster_name, expected) in cases {
            assert_eq!(
                window.matches(application, namespace, server, cluster_name),
                expected,
                "{window:?} ~ {application} {namespace} {server} {cluster_name}"
            );
        }
    }

    /// A window for `app1` (or `other`) that is active at 10:30 UTC (`on`) or not (`off`).
    fn w(kind: &str, on: bool, application: &str, manual_sync: bool) -> SyncWindow {
        SyncWindow {
            kind: Some(SyncWindowKind::from(kind)),
            schedule: if on { "0 10 * * *" } else { "0 20 * * *" }.into(),
            duration: "1h".into(),
            applications: vec![application.into()],
            manual_sync: Some(manual_sync),
            ..Default::default()
        }
    }

    #[test]
    fn sync_allowed() {
        use SyncDecision::*;
        let at = ts("2024-03-04T10:30:00Z");
        let (auto, manual) = (false, true);
        // (windows, manual, decision)
        let cases: Vec<(Vec<SyncWindow>, bool, SyncDecision)> = vec![
            (vec![], auto, NoMatchingWindows),
            (
                vec![w("deny", true, "other", false)],
                auto,
                NoMatchingWindows,
            ),
            (
                vec![w("allow", true, "app1", false)],
                auto,
                AllowWindowActive { windows: vec![0] },
            ),
            (
                vec![w("allow", false, "app1", false)],
                auto,
                OutsideAllowWindows { windows: vec![0] },
            ),
            (
                vec![w("allow", false, "app1", true)],
                auto,
                OutsideAllowWindows { windows: vec![0] },
            ),
            (
                vec![w("allow", false, "app1", true)],
                manual,
                ManualSyncOutsideAllowWindows { windows: vec![0] },
            ),
            (
                vec![w("allow", false, "app1", false)],
                manual,
                OutsideAllowWindows { windows: vec![0] },
            ),
            (
                vec![w("deny", true, "app1", false)],
                auto,
                BlockedByDenyWindows { windows: vec![0] },
            ),
            (
                vec![w("deny", true, "app1", false)],
                manual,
                BlockedByDenyWindows { windows: vec![0] },
            ),
            (
                vec![w("deny", true, "app1", true)],
                auto,
                BlockedByDenyWindows { windows: vec![0] },
            ),
            (
                vec![w("deny", true, "app1", true)],
                manual,
                ManualSyncDuringDenyWindows { windows: vec![0] },
            ),
            (
                vec![w("deny", false, "app1", false)],
                auto,
                NotBlocked { windows: vec![0] },
            ),
            // Deny wins over an active allow.
            (
                vec![
                    w("allow", true, "app1", true),
                    w("deny", true, "app1", false),
                ],
                manual,
                BlockedByDenyWindows { windows: vec![1] },
            ),
            // An inactive deny does not block; an active allow allows despite inactive allows.
            (
                vec![
                    w("deny", false, "app1", false),
                    w("allow", true, "app1", false),
                    w("allow", false, "app1", false),
                ],
                auto,
                AllowWindowActive { windows: vec![1] },
            ),
            (
                vec![
                    w("deny", false, "app1", false),
                    w("allow", false, "app1", false),
                ],
                auto,
                OutsideAllowWindows { windows: vec![1] },
            ),
            // Manual override needs every active deny (or every inactive allow) to allow it.
            (
                vec![
                    w("deny", true, "app1", true),
                    w("deny", true, "app1", false),
                ],
                manual,
                BlockedByDenyWindows { windows: vec![1] },
            ),
            (
                vec![w("deny", true, "app1", true), w("deny", true, "app1", true)],
                auto,
                BlockedByDenyWindows {
                    windows: vec![0, 1],
                },
            ),
            (
                vec![w("deny", true, "app1", true), w("deny", true, "app1", true)],
                manual,
                ManualSyncDuringDenyWindows {
                    windows: vec![0, 1],
                },
            ),
            (
                vec![
                    w("allow", false, "app1", false),
                    w("allow", false, "app1", true),
                ],
                manual,
                OutsideAllowWindows { windows: vec![0] },
            ),
            // A manual override of active deny windows does not look at allow windows.
            (
                vec![
                    w("allow", false, "app1", false),
                    w("deny", true, "app1", true),
                ],
                manual,
                ManualSyncDuringDenyWindows { windows: vec![1] },
            ),
            // Windows for other applications do not count.
            (
                vec![
                    w("deny", true, "other", false),
                    w("allow", true, "app1", false),
                ],
                auto,
                AllowWindowActive { windows: vec![1] },
            ),
            (
                vec![
                    w("allow", false, "other", false),
                    w("deny", false, "app1", false),
                ],
                auto,
                NotBlocked { windows: vec![1] },
            ),
            // Windows of an unknown kind (or none) neither allow nor deny.
            (
                vec![w("Deny", true, "app1", false)],
                auto,
                NotBlocked { windows: vec![0] },
            ),
            (
                vec![SyncWindow {
                    kind: None,
                    ..w("deny", true, "app1", false)
                }],
                auto,
                NotBlocked { windows: vec![0] },
            ),
        ];
        for (windows, manual, expected) in cases {
            let project = AppProject::new(
                "test",
                AppProjectSpec {
                    sync_windows: windows.clone(),
                    ..Default::default()
                },
            );
            let decision = project
                .sync_allowed(
                    "app1",
                    "default",
                    "https://kubernetes.default.svc",
                    "in-cluster",
                    manual,
                    at,
                )
                .unwrap();
            assert_eq!(
                decision.is_allowed(),
                matches!(
                    expected,
                    NoMatchingWindows
                        | NotBlocked { .. }
                        | AllowWindowActive { .. }
                        | ManualSyncDuringDenyWindows { .. }
                        | ManualSyncOutsideAllowWindows { .. }
                ),
                "{windows:?} manual={manual}"
            );
            assert_eq!(decision, expected, "{windows:?} manual={manual}");
        }
    }

    #[test]
    fn sync_allowed_across_time_zones() {
        // Business hours in Berlin, Monday to Friday; Fridays stay closed after 15:00.
        let project = AppProject::new(
            "test",
            AppProjectSpec {
                sync_windows: vec![
                    SyncWindow {
                        kind: Some(SyncWindowKind::Allow),
                        schedule: "0 9 * * mon-fri".into(),
                        duration: "8h".into(),
                        time_zone: "Europe/Berlin".into(),
                        namespaces: vec!["prod-*".into()],
                        ..Default::default()
                    },
                    SyncWindow {
                        kind: Some(SyncWindowKind::Deny),
                        schedule: "0 15 * * fri".into(),
                        duration: "2h".into(),
                        time_zone: "Europe/Berlin".into(),
                        namespaces: vec!["prod-*".into()],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        );
        // (namespace, at, decision)
        let cases = [
            // Thursday 10:00 CET.
            (
                "prod-eu",
                "2024-03-07T09:00:00Z",
                SyncDecision::AllowWindowActive { windows: vec![0] },
            ),
            // Thursday 08:00 CET: before opening.
            (
                "prod-eu",
                "2024-03-07T07:00:00Z",
                SyncDecision::OutsideAllowWindows { windows: vec![0] },
            ),
            // Friday 16:00 CET: the deny window wins.
            (
                "prod-eu",
                "2024-03-08T15:00:00Z",
                SyncDecision::BlockedByDenyWindows { windows: vec![1] },
            ),
            // Saturday.
            (
                "prod-eu",
                "2024-03-09T11:00:00Z",
                SyncDecision::OutsideAllowWindows { windows: vec![0] },
            ),
            // Summer time: Thursday 10:00 CEST is 08:00 UTC.
            (
                "prod-eu",
                "2024-07-04T08:00:00Z",
                SyncDecision::AllowWindowActive { windows: vec![0] },
            ),
            (
                "prod-eu",
                "2024-07-04T06:30:00Z",
                SyncDecision::OutsideAllowWindows { windows: vec![0] },
            ),
            // Other namespaces are not governed.
            (
                "dev",
                "2024-03-09T11:00:00Z",
                SyncDecision::NoMatchingWindows,
            ),
        ];
        for (namespace, at, expected) in cases {
            assert_eq!(
                project.sync_allowed("web", namespace, "https://k", "prod", false, ts(at)),
                Ok(expected),
                "{namespace} at {at}"
            );
        }
    }

    #[test]
    fn sync_allowed_errors_only_for_applying_windows() {
        let broken = SyncWindow {
            kind: Some(SyncWindowKind::Deny),
            schedule: "61 * * * *".into(),
            duration: "1h".into(),
            applications: vec!["app1".into()],
            ..Default::default()
        };
        let project = AppProject::new(
            "test",
            AppProjectSpec {
                sync_windows: vec![w("allow", true, "app1", false), broken],
                ..Default::default()
            },
        );
        let at = ts("2024-03-04T10:30:00Z");
        assert_eq!(
            project.sync_allowed("app1", "default", "", "", false, at),
            Err(SyncWindowError::Window {
                index: 1,
                source: Box::new(SyncWindowError::Schedule {
                    schedule: "61 * * * *".into(),
                    source: ScheduleError::AboveMaximum {
                        expr: "61".into(),
                        max: 59,
                    },
                }),
            })
        );
        assert_eq!(
            project.sync_allowed("app2", "default", "", "", false, at),
            Ok(SyncDecision::NoMatchingWindows)
        );
    }

    #[test]
    fn matching_sync_windows() {
        let project = AppProject::new(
            "test",
            AppProjectSpec {
                sync_windows: vec![
                    w("allow", true, "app1", false),
                    w("deny", true, "other", false),
                    w("deny", false, "app*", false),
                ],
                ..Default::default()
            },
        );
        assert_eq!(
            project.matching_sync_windows("app1", "default", "", ""),
            vec![0, 2]
        );
        assert_eq!(
            project.matching_sync_windows("other", "default", "", ""),
            vec![1]
        );
        assert_eq!(
            project.matching_sync_windows("x", "default", "", ""),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn decision_messages() {
        let cases = [
            (
                SyncDecision::NoMatchingWindows,
                "no sync window applies",
                &[][..],
            ),
            (
                SyncDecision::NotBlocked { windows: vec![2] },
                "no sync window blocks the sync (applying: window 2)",
                &[2][..],
            ),
            (
                SyncDecision::AllowWindowActive {
                    windows: vec![0, 3],
                },
                "sync allowed by active allow windows 0, 3",
                &[0, 3][..],
            ),
            (
                SyncDecision::BlockedByDenyWindows { windows: vec![1] },
                "sync blocked by active deny window 1",
                &[1][..],
            ),
            (
                SyncDecision::ManualSyncDuringDenyWindows { windows: vec![1] },
                "manual sync allowed during active deny window 1",
                &[1][..],
            ),
            (
                SyncDecision::OutsideAllowWindows {
                    windows: vec![0, 1],
                },
                "sync blocked outside allow windows 0, 1",
                &[0, 1][..],
            ),
            (
                SyncDecision::ManualSyncOutsideAllowWindows { windows: vec![0] },
                "manual sync allowed outside allow window 0",
                &[0][..],
            ),
        ];
        for (decision, message, windows) in cases {
            assert_eq!(decision.to_string(), message);
            assert_eq!(decision.windows(), windows, "{decision:?}");
        }
        assert_eq!(
            SyncWindowError::Window {
                index: 3,
                source: Box::new(SyncWindowError::Duration {
                    duration: "1d".into(),
                    source: DurationError::UnknownUnit { unit: "d".into() },
                }),
            }
            .to_string(),
            "invalid sync windows: window 3: cannot parse duration \"1d\": unknown unit \"d\" (expected ns, us, µs, ms, s, m or h)"
        );
    }
}
