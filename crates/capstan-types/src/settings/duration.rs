//! Go duration strings (`time.ParseDuration`), as used by Argo CD's settings.

use std::time::Duration;

/// Why a string is not a Go duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty.
    #[error("empty duration")]
    Empty,
    /// A number is missing where one was expected (for example `"h"` or `"1h."`).
    #[error("expected a number at byte {offset}")]
    MissingNumber {
        /// Byte offset in the input.
        offset: usize,
    },
    /// A number has no unit (only `"0"` may omit it).
    #[error("missing unit after {number:?} (expected ns, us, µs, ms, s, m or h)")]
    MissingUnit {
        /// The number without a unit.
        number: String,
    },
    /// The unit is not one of Go's.
    #[error("unknown unit {unit:?} (expected ns, us, µs, ms, s, m or h)")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
    },
    /// The duration is negative; settings only take non-negative durations.
    #[error("negative durations are not allowed")]
    Negative,
    /// The duration does not fit in 64 bits of nanoseconds, as in Go.
    #[error("duration out of range")]
    Overflow,
}

/// Parses a Go duration string such as `"180s"`, `"3m"`, `"1h30m"`, `"1.5h"`, `"250ms"` or
/// `"0"`, exactly as Go's `time.ParseDuration` does, except that negative durations are
/// rejected.
///
/// A sequence of decimal numbers, each with an optional fraction and a required unit (`ns`,
/// `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`); only `"0"` may omit the unit. No spaces are allowed.
/// The result must fit in `i64` nanoseconds, Go's limit (about 292 years).
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let (negative, total) = parse_parts(input)?;
    if negative && total != 0 {
        return Err(DurationError::Negative);
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    let subsec = u32::try_from(total % 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    Ok(Duration::new(secs, subsec))
}

/// Parses a Go duration string exactly as Go's `time.ParseDuration` does, negative durations
/// included, into signed nanoseconds (Go's `time.Duration`).
pub(crate) fn parse_go_duration_nanos(input: &str) -> Result<i64, DurationError> {
    let (negative, total) = parse_parts(input)?;
    let total = i128::try_from(total).map_err(|_| DurationError::Overflow)?;
    i64::try_from(if negative { -total } else { total }).map_err(|_| DurationError::Overflow)
}

/// The sign and magnitude in nanoseconds of a Go duration. The magnitude may be 2^63 only when
/// the sign is negative, as in Go.
fn parse_parts(input: &str) -> Result<(bool, u128), DurationError> {
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        Some(_) => (false, input),
        None => return Err(DurationError::Empty),
    };
    if rest == "0" {
        return Ok((negative, 0));
    }
    if rest.is_empty() {
        return Err(DurationError::MissingNumber {
            offset: input.len(),
        });
    }
    const MAX_NANOS: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let offset = input.len() - rest.len();
        let integer_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let integer = &rest[..integer_len];
        rest = &rest[integer_len..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            fraction = &after_dot[..fraction_len];
            rest = &after_dot[fraction_len..];
        } else if integer.is_empty() {
            return Err(DurationError::MissingNumber { offset });
        }
        if integer.is_empty() && fraction.is_empty() {
            return Err(DurationError::MissingNumber { offset });
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(index, _)| index);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => {
                return Err(DurationError::MissingUnit {
                    number: input[offset..input.len() - rest.len()].to_owned(),
                });
            }
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_owned(),
                });
            }
        };
        let integer_value: u128 = if integer.is_empty() {
            0
        } else {
            integer.parse().map_err(|_| DurationError::Overflow)?
        };
        let mut nanos = integer_value
            .checked_mul(unit_nanos)
            .ok_or(DurationError::Overflow)?;
        // Fractions beyond nanosecond precision are truncated, as in Go.
        let mut scale = unit_nanos;
        for digit in fraction.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos += u128::from(digit - b'0') * scale;
        }
        total = total.checked_add(nanos).ok_or(DurationError::Overflow)?;
        if total > MAX_NANOS {
            return Err(DurationError::Overflow);
        }
    }
    if !negative && total > i64::MAX as u128 {
        return Err(DurationError::Overflow);
    }
    Ok((negative, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_durations() {
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("180s", Duration::from_secs(180)),
            ("120s", Duration::from_secs(120)),
            ("3m", Duration::from_secs(180)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h30m15s", Duration::from_secs(5415)),
            ("1.5h", Duration::from_secs(5400)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("250ms", Duration::from_millis(250)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("10μs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("1.0000000001s", Duration::from_secs(1)),
            ("2h0m0s", Duration::from_secs(7200)),
            ("2562047h", Duration::from_secs(2_562_047 * 3600)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_go_duration(input).as_ref(),
                Ok(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn invalid_durations() {
        let cases: &[(&str, DurationError)] = &[
            ("", DurationError::Empty),
            ("-", DurationError::MissingNumber { offset: 1 }),
            (
                "180",
                DurationError::MissingUnit {
                    number: "180".into(),
                },
            ),
            (
                "1h30",
                DurationError::MissingUnit {
                    number: "30".into(),
                },
            ),
            (
                "3 minutes",
                DurationError::UnknownUnit {
                    unit: " minutes".into(),
                },
            ),
            ("3min", DurationError::UnknownUnit { unit: "min".into() }),
            ("1d", DurationError::UnknownUnit { unit: "d".into() }),
            ("h", DurationError::MissingNumber { offset: 0 }),
            (".s", DurationError::MissingNumber { offset: 0 }),
            ("1h.", DurationError::MissingNumber { offset: 2 }),
            ("-5s", DurationError::Negative),
            ("2562048h", DurationError::Overflow),
            ("99999999999999999999999s", DurationError::Overflow),
            (" 3s", DurationError::MissingNumber { offset: 0 }),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_go_duration(input).as_ref(),
                Err(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn signed_durations() {
        let cases: &[(&str, Result<i64, DurationError>)] = &[
            ("0", Ok(0)),
            ("-0", Ok(0)),
            ("1h", Ok(3_600_000_000_000)),
            ("+1h", Ok(3_600_000_000_000)),
            ("-1h30m", Ok(-5_400_000_000_000)),
            ("-1.5s", Ok(-1_500_000_000)),
            ("9223372036854775807ns", Ok(i64::MAX)),
            ("-9223372036854775808ns", Ok(i64::MIN)),
            ("9223372036854775808ns", Err(DurationError::Overflow)),
            ("-9223372036854775809ns", Err(DurationError::Overflow)),
            ("--1h", Err(DurationError::MissingNumber { offset: 1 })),
            ("-+1h", Err(DurationError::MissingNumber { offset: 1 })),
            ("1d", Err(DurationError::UnknownUnit { unit: "d".into() })),
            ("", Err(DurationError::Empty)),
        ];
        for (input, expected) in cases {
            assert_eq!(&parse_go_duration_nanos(input), expected, "input {input:?}");
        }
        // The unsigned parser still refuses what only the signed one accepts.
        assert_eq!(
            parse_go_duration("-9223372036854775808ns"),
            Err(DurationError::Negative)
        );
    }
}
