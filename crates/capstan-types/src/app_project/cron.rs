//! Sync window schedules, parsed and evaluated exactly as Argo CD does with
//! `github.com/robfig/cron/v3` and `cron.NewParser(Minute | Hour | Dom | Month | Dow)`.
//!
//! * Exactly five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
//!   `jan`-`dec`), day of week (0-6 or `sun`-`sat`; 7 is rejected). Names are case-insensitive.
//! * Each field is a comma-separated list of `*` or `?`, `n`, `a-b`, each optionally `/step`;
//!   `n/step` means `n-max/step`. Empty list items are ignored.
//! * Descriptors (`@hourly`, `@every 1h`) are rejected: Argo CD's parser does not enable them.
//! * A `TZ=<zone>` or `CRON_TZ=<zone>` prefix evaluates the schedule in that zone.
//! * When both day fields are restricted (neither starts with `*` or `?`), a day matches if
//!   either matches (standard cron); otherwise both must.

use std::sync::LazyLock;

use jiff::civil::{DateTime, Time};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp, ToSpan};

/// The IANA time zone database compiled into the binary: lookups never touch the file system.
static TZDB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// Resolves a time zone name as Go's `time.LoadLocation` does, against the bundled database:
/// `""` and `"UTC"` are UTC, names are case-sensitive, and `None` means Go would fail.
///
/// `"Local"` (the machine's zone in Go) resolves to UTC: Capstan's result must not depend on
/// the host it runs on, and Argo CD's images run in UTC.
pub(super) fn load_location(name: &str) -> Option<TimeZone> {
    if name.is_empty() || name == "UTC" || name == "Local" {
        return Some(TimeZone::UTC);
    }
    if name.contains("..") || name.starts_with(['/', '\\']) {
        return None;
    }
    let tz = TZDB.get(name).ok()?;
    // jiff looks names up case-insensitively; Go reads a file, which is case-sensitive.
    (tz.iana_name() == Some(name)).then_some(tz)
}

/// Why a schedule is not one Argo CD accepts; messages follow robfig/cron's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The schedule is empty.
    #[error("empty spec string")]
    Empty,
    /// A descriptor such as `@hourly`, which Argo CD's parser does not accept.
    #[error("parser does not accept descriptors: {0}")]
    Descriptor(String),
    /// The zone of a `TZ=`/`CRON_TZ=` prefix is unknown.
    #[error("provided bad location {0}")]
    BadLocation(String),
    /// A `TZ=`/`CRON_TZ=` prefix with no schedule after it.
    #[error("missing schedule after time zone prefix")]
    MissingSchedule,
    /// Not exactly five fields.
    #[error("expected exactly 5 fields, found {0}")]
    FieldCount(usize),
    /// A range such as `1-2-3`.
    #[error("too many hyphens: {0}")]
    TooManyHyphens(String),
    /// A step such as `1/2/3`.
    #[error("too many slashes: {0}")]
    TooManySlashes(String),
    /// Not a number (nor a month or weekday name).
    #[error("failed to parse int from {0}")]
    NotANumber(String),
    /// A negative number.
    #[error("negative number not allowed: {0}")]
    Negative(String),
    /// A value below the field's minimum.
    #[error("beginning of range below minimum ({min}): {expr}")]
    BelowMinimum {
        /// The range as written.
        expr: String,
        /// The field's minimum.
        min: u32,
    },
    /// A value above the field's maximum.
    #[error("end of range above maximum ({max}): {expr}")]
    AboveMaximum {
        /// The range as written.
        expr: String,
        /// The field's maximum.
        max: u32,
    },
    /// A range whose start is after its end.
    #[error("beginning of range beyond end of range: {0}")]
    StartBeyondEnd(String),
    /// A step of zero.
    #[error("step of range should be a positive number: {0}")]
    ZeroStep(String),
}

/// robfig/cron's marker for a field written as `*` or `?` (bit 63).
const STAR: u64 = 1 << 63;

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAYS_OF_MONTH: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DAYS_OF_WEEK: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// A parsed schedule: one bit per allowed value, as robfig/cron's `SpecSchedule` (seconds are
/// always 0).
#[derive(Clone, Debug)]
pub(super) struct Schedule {
    minute: u64,
    hour: u64,
    day_of_month: u64,
    month: u64,
    day_of_week: u64,
    location: Option<TimeZone>,
}

impl Schedule {
    /// robfig/cron's `Parser.Parse` with Argo CD's options.
    pub(super) fn parse(spec: &str) -> Result<Schedule, ScheduleError> {
        if spec.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let mut spec = spec;
        let mut location = None;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            // robfig slices up to the first space; Go panics when there is none.
            let space = spec.find(' ').ok_or(ScheduleError::MissingSchedule)?;
            let equals = spec.find('=').unwrap_or_default();
            let name = &spec[equals + 1..space];
            location = Some(
                load_location(name).ok_or_else(|| ScheduleError::BadLocation(name.to_owned()))?,
            );
            spec = spec[space..].trim();
        }
        if spec.starts_with('@') {
            return Err(ScheduleError::Descriptor(spec.to_owned()));
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        let [minute, hour, day_of_month, month, day_of_week] = fields[..] else {
            return Err(ScheduleError::FieldCount(fields.len()));
        };
        Ok(Schedule {
            minute: field(minute, &MINUTES)?,
            hour: field(hour, &HOURS)?,
            day_of_month: field(day_of_month, &DAYS_OF_MONTH)?,
            month: field(month, &MONTHS)?,
            day_of_week: field(day_of_week, &DAYS_OF_WEEK)?,
            location,
        })
    }

    /// robfig/cron's `SpecSchedule.Next`: the first start time strictly after `after`, or `None`
    /// where robfig returns Go's zero time (no start within five years).
    pub(super) fn next(&self, after: Timestamp) -> Option<Timestamp> {
        let tz = self.location.clone().unwrap_or(TimeZone::UTC);
        let next = self.next_civil(tz.to_datetime(after))?;
        tz.to_ambiguous_timestamp(next).compatible().ok()
    }

    /// The search of `SpecSchedule.Next` on wall-clock time.
    fn next_civil(&self, after: DateTime) -> Option<DateTime> {
        // A field that allows no value at all (`,`) never matches: robfig searches its five
        // years in vain, so skip straight to its answer.
        if self.minute == 0 || self.hour == 0 || self.month == 0 {
            return None;
        }
        // Start at the earliest possible time: the next whole second.
        let mut t = after
            .with()
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(SignedDuration::from_secs(1))
            .ok()?;
        let mut added = false;
        let year_limit = t.year() + 5;
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            while !has(self.month, t.month()) {
                if !added {
                    added = true;
                    t = t.date().first_of_month().to_datetime(Time::midnight());
                }
                t = t.checked_add(1.month()).ok()?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(t) {
                if !added {
                    added = true;
                    t = t.date().to_datetime(Time::midnight());
                }
                t = t.checked_add(1.day()).ok()?;
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while !has(self.hour, t.hour()) {
                if !added {
                    added = true;
                    t = t.with().minute(0).second(0).build().ok()?;
                }
                t = t.checked_add(1.hour()).ok()?;
                if t.hour() == 0 {
                    continue 'wrap;
                }
            }
            while !has(self.minute, t.minute()) {
                if !added {
                    added = true;
                    t = t.with().second(0).build().ok()?;
                }
                t = t.checked_add(1.minute()).ok()?;
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            while t.second() != 0 {
                added = true;
                t = t.checked_add(1.second()).ok()?;
                if t.second() == 0 {
                    continue 'wrap;
                }
            }
            return Some(t);
        }
    }

    /// robfig/cron's `dayMatches`.
    fn day_matches(&self, t: DateTime) -> bool {
        let dom = has(self.day_of_month, t.day());
        // Sunday is 0, as in Go.
        let dow = has(self.day_of_week, t.weekday().to_sunday_zero_offset());
        if self.day_of_month & STAR != 0 || self.day_of_week & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }
}

fn has(bits: u64, value: i8) -> bool {
    u32::try_from(value).is_ok_and(|value| bits & (1 << value) != 0)
}

/// robfig/cron's `getField`: the union of comma-separated ranges (empty items are skipped).
fn field(field: &str, bounds: &Bounds) -> Result<u64, ScheduleError> {
    field
        .split(',')
        .filter(|range| !range.is_empty())
        .try_fold(0, |bits, range| Ok(bits | range_bits(range, bounds)?))
}

/// robfig/cron's `getRange`.
fn range_bits(expr: &str, bounds: &Bounds) -> Result<u64, ScheduleError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut extra) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (bounds.min, bounds.max, STAR)
    } else {
        let start = int_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high[..] {
            [_] => start,
            [_, high] => int_or_name(high, bounds)?,
            _ => return Err(ScheduleError::TooManyHyphens(expr.to_owned())),
        };
        (start, end, 0)
    };
    let step = match range_and_step[..] {
        [_] => 1,
        [_, step] => {
            let step = int(step)?;
            if single {
                end = bounds.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(ScheduleError::TooManySlashes(expr.to_owned())),
    };
    if start < bounds.min {
        return Err(ScheduleError::BelowMinimum {
            expr: expr.to_owned(),
            min: bounds.min,
        });
    }
    if end > bounds.max {
        return Err(ScheduleError::AboveMaximum {
            expr: expr.to_owned(),
            max: bounds.max,
        });
    }
    if start > end {
        return Err(ScheduleError::StartBeyondEnd(expr.to_owned()));
    }
    if step == 0 {
        return Err(ScheduleError::ZeroStep(expr.to_owned()));
    }
    let bits = (start..=end)
        .step_by(usize::try_from(step).unwrap_or(usize::MAX))
        .fold(0, |bits, value| bits | (1u64 << value));
    Ok(bits | extra)
}

/// robfig/cron's `parseIntOrName`.
fn int_or_name(expr: &str, bounds: &Bounds) -> Result<u32, ScheduleError> {
    let lower = expr.to_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some((_, value)) => Ok(*value),
        None => int(expr),
    }
}

/// robfig/cron's `mustParseInt` (Go's `strconv.Atoi`, then no negatives). Values too large for a
/// field are reported by the bounds check, so they saturate here.
fn int(expr: &str) -> Result<u32, ScheduleError> {
    let value: i64 = expr
        .parse()
        .map_err(|_| ScheduleError::NotANumber(expr.to_owned()))?;
    if value < 0 {
        return Err(ScheduleError::Negative(expr.to_owned()));
    }
    Ok(u32::try_from(value).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_like_robfig() {
        let ok = [
            "* * * * *",
            "0 9 * * 1-5",
            "0 9 * * MON-FRI",
            "0 0 1 jan,JUL *",
            "*/15 * * * *",
            "5/15 * * * *",
            "? ? ? ? ?",
            "0,,30 * * * *",
            "  0   9 * * *  ",
            "*-5 * * * *",
            "+5 * * * *",
            "TZ=Europe/Berlin 0 9 * * *",
            "CRON_TZ=UTC 0 9 * * *",
            "TZ= 0 9 * * *",
        ];
        for spec in ok {
            assert!(Schedule::parse(spec).is_ok(), "{spec:?} should parse");
        }
        let err = [
            ("", ScheduleError::Empty),
            ("@hourly", ScheduleError::Descriptor("@hourly".into())),
            ("@every 1h", ScheduleError::Descriptor("@every 1h".into())),
            ("* * * *", ScheduleError::FieldCount(4)),
            ("0 * * * * *", ScheduleError::FieldCount(6)),
            (
                "60 * * * *",
                ScheduleError::AboveMaximum {
                    expr: "60".into(),
                    max: 59,
                },
            ),
            (
                "* 24 * * *",
                ScheduleError::AboveMaximum {
                    expr: "24".into(),
                    max: 23,
                },
            ),
            (
                "* * 0 * *",
                ScheduleError::BelowMinimum {
                    expr: "0".into(),
                    min: 1,
                },
            ),
            (
                "* * * 13 *",
                ScheduleError::AboveMaximum {
                    expr: "13".into(),
                    max: 12,
                },
            ),
            (
                "* * * * 7",
                ScheduleError::AboveMaximum {
                    expr: "7".into(),
                    max: 6,
                },
            ),
            ("* * * * mon-", ScheduleError::NotANumber(String::new())),
            (
                "1-2-3 * * * *",
                ScheduleError::TooManyHyphens("1-2-3".into()),
            ),
            (
                "1/2/3 * * * *",
                ScheduleError::TooManySlashes("1/2/3".into()),
            ),
            ("*/0 * * * *", ScheduleError::ZeroStep("*/0".into())),
            ("*/-1 * * * *", ScheduleError::Negative("-1".into())),
            ("5-1 * * * *", ScheduleError::StartBeyondEnd("5-1".into())),
            ("x * * * *", ScheduleError::NotANumber("x".into())),
            (
                "TZ=Nowhere/City 0 9 * * *",
                ScheduleError::BadLocation("Nowhere/City".into()),
            ),
            ("TZ=UTC", ScheduleError::MissingSchedule),
        ];
        for (spec, expected) in err {
            assert_eq!(Schedule::parse(spec).unwrap_err(), expected, "{spec:?}");
        }
    }

    #[test]
    fn next_start_time() {
        let cases = [
            // Strictly after: a start at exactly `after` is not returned.
            (
                "0 10 * * *",
                "2024-03-04T10:00:00Z",
                Some("2024-03-05T10:00:00Z"),
            ),
            (
                "0 10 * * *",
                "2024-03-04T09:59:59.5Z",
                Some("2024-03-04T10:00:00Z"),
            ),
            (
                "0 10 * * *",
                "2024-03-04T10:00:00.000000001Z",
                Some("2024-03-05T10:00:00Z"),
            ),
            (
                "* * * * *",
                "2024-03-04T10:00:30Z",
                Some("2024-03-04T10:01:00Z"),
            ),
            (
                "*/15 * * * *",
                "2024-03-04T10:16:00Z",
                Some("2024-03-04T10:30:00Z"),
            ),
            (
                "5/15 * * * *",
                "2024-03-04T10:51:00Z",
                Some("2024-03-04T11:05:00Z"),
            ),
            // 2024-03-04 is a Monday.
            (
                "0 9 * * 1-5",
                "2024-03-08T10:00:00Z",
                Some("2024-03-11T09:00:00Z"),
            ),
            (
                "0 9 * * sat",
                "2024-03-04T10:00:00Z",
                Some("2024-03-09T09:00:00Z"),
            ),
            // Day of month and day of week both restricted: either matches.
            (
                "0 0 13 * 5",
                "2024-03-04T00:00:00Z",
                Some("2024-03-08T00:00:00Z"),
            ),
            (
                "0 0 5 * 5",
                "2024-03-04T00:00:00Z",
                Some("2024-03-05T00:00:00Z"),
            ),
            // One of them is `*`: both must match.
            (
                "0 0 13 * *",
                "2024-03-04T00:00:00Z",
                Some("2024-03-13T00:00:00Z"),
            ),
            (
                "0 0 * * 5",
                "2024-03-04T00:00:00Z",
                Some("2024-03-08T00:00:00Z"),
            ),
            // `*/1` keeps the star, `*/2` does not: 2024-03-13 is a Wednesday.
            (
                "0 0 13 * */1",
                "2024-03-04T00:00:00Z",
                Some("2024-03-13T00:00:00Z"),
            ),
            (
                "0 0 13 * */2",
                "2024-03-04T00:00:00Z",
                Some("2024-03-05T00:00:00Z"),
            ),
            // Year wrap and leap day.
            (
                "0 0 1 1 *",
                "2024-03-04T00:00:00Z",
                Some("2025-01-01T00:00:00Z"),
            ),
            (
                "0 0 29 2 *",
                "2024-03-04T00:00:00Z",
                Some("2028-02-29T00:00:00Z"),
            ),
            // No start within five years: robfig returns its zero time.
            ("0 0 30 2 *", "2024-03-04T00:00:00Z", None),
            ("0 0 31 4 *", "2024-03-04T00:00:00Z", None),
            (", * * * *", "2024-03-04T00:00:00Z", None),
            // A zone prefix evaluates in that zone: 09:00 in Tokyo is 00:00 UTC.
            (
                "TZ=Asia/Tokyo 0 9 * * *",
                "2024-03-04T01:00:00Z",
                Some("2024-03-05T00:00:00Z"),
            ),
        ];
        for (spec, after, expected) in cases {
            let schedule = Schedule::parse(spec).unwrap();
            assert_eq!(
                schedule.next(ts(after)),
                expected.map(ts),
                "{spec:?} after {after}"
            );
        }
    }

    #[test]
    fn time_zone_names() {
        let cases = [
            ("", Some("UTC")),
            ("UTC", Some("UTC")),
            ("Local", Some("UTC")),
            ("Europe/Berlin", Some("Europe/Berlin")),
            ("America/New_York", Some("America/New_York")),
            ("Etc/UTC", Some("Etc/UTC")),
            ("europe/berlin", None),
            ("utc", None),
            ("Nowhere/City", None),
            ("../etc/passwd", None),
            ("/Europe/Berlin", None),
        ];
        for (name, expected) in cases {
            assert_eq!(
                load_location(name)
                    .as_ref()
                    .map(|tz| tz.iana_name().unwrap_or("?")),
                expected,
                "{name:?}"
            );
        }
    }
}
