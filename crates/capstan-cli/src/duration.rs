//! Durations on the command line: Go's syntax (`30s`, `1h30m`, `1.5h`), argocd's `d` for days
//! (`7d`, as in `proj role create-token --expires-in 7d`), and a bare number of seconds (`300`,
//! as argocd's `--timeout` takes).

use std::time::Duration;

use capstan_types::settings::parse_go_duration;

/// Parses a command-line duration: a bare number of seconds, or a sequence of numbers with
/// units (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`).
///
/// # Errors
///
/// A message saying what is wrong, for clap to print next to the flag.
pub(crate) fn parse_duration(input: &str) -> Result<Duration, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("empty duration".to_owned());
    }
    if let Ok(seconds) = input.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    // Go has no days: turn every `<number>d` into hours before handing the rest to the Go
    // parser. A `d` is a unit only after a digit or a dot, so no other unit is affected.
    let mut converted = String::with_capacity(input.len() + 8);
    let mut number = String::new();
    for c in input.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
        } else if c == 'd' && !number.is_empty() {
            let days: f64 = number
                .parse()
                .map_err(|_| format!("invalid duration {input:?}: bad number {number:?}"))?;
            converted.push_str(&format!("{}h", days * 24.0));
            number.clear();
        } else {
            converted.push_str(&number);
            number.clear();
            converted.push(c);
        }
    }
    converted.push_str(&number);
    parse_go_duration(&converted).map_err(|err| {
        format!("invalid duration {input:?}: {err} (examples: 30s, 5m, 1h30m, 7d, or seconds)")
    })
}

/// Formats a duration the way Go prints one, in whole seconds (`1h2m3s`, `45s`, `0s`).
pub(crate) fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{format_duration, parse_duration};

    #[test]
    fn parses_go_durations_days_and_seconds() {
        let cases: &[(&str, Option<u64>)] = &[
            ("24h", Some(86_400)),
            ("7d", Some(604_800)),
            ("1d12h", Some(129_600)),
            ("1.5h", Some(5_400)),
            ("90m", Some(5_400)),
            ("30s", Some(30)),
            ("300", Some(300)),
            ("0", Some(0)),
            ("0s", Some(0)),
            (" 5m ", Some(300)),
            ("", None),
            ("h", None),
            ("5 minutes", None),
            ("-5s", None),
            ("5x", None),
        ];
        for (input, want) in cases {
            let got = parse_duration(input).map(|d| d.as_secs());
            match (got, want) {
                (Ok(got), Some(want)) => assert_eq!(got, *want, "{input:?}"),
                (Err(_), None) => {}
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn errors_show_examples() {
        let err = parse_duration("5x").expect_err("unknown unit");
        assert!(err.contains("\"5x\"") && err.contains("7d"), "{err}");
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (60, "1m0s"),
            (125, "2m5s"),
            (3_723, "1h2m3s"),
        ];
        for (secs, want) in cases {
            assert_eq!(format_duration(Duration::from_secs(secs)), want);
        }
    }
}
