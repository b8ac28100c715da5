//! Exact comparison of Kubernetes resource quantities (`500m`, `0.5`, `1Gi`, `1e3`).
//!
//! A quantity is reduced to `mantissa × 10^exponent` with no trailing zeros in the mantissa, so
//! two spellings of one amount compare equal without floating-point rounding. Binary suffixes
//! (`Ki` … `Ei`) multiply the mantissa by powers of 1024, which is exact in `i128`.

/// A quantity in canonical form: `mantissa × 10^exponent`, mantissa without trailing zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Quantity {
    mantissa: i128,
    exponent: i32,
}

/// Most significant digits accepted; more could overflow after a binary suffix.
const MAX_DIGITS: usize = 30;

impl Quantity {
    /// Parses Kubernetes' quantity syntax: an optionally signed decimal number followed by
    /// nothing, a binary suffix (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`), a decimal suffix (`n`, `u`,
    /// `m`, `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`e3`, `E-2`). `None` unless the
    /// whole string is a quantity.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_len);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
            return None;
        }
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > MAX_DIGITS {
            return None;
        }
        let mut mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let mut exponent = -i32::try_from(frac_part.len()).ok()?;
        let binary_power = match suffix {
            "Ki" => 1,
            "Mi" => 2,
            "Gi" => 3,
            "Ti" => 4,
            "Pi" => 5,
            "Ei" => 6,
            _ => 0,
        };
        if binary_power > 0 {
            mantissa = mantissa.checked_mul(1024_i128.checked_pow(binary_power)?)?;
        } else {
            exponent = exponent.checked_add(match suffix {
                "" => 0,
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                "E" => 18,
                other => {
                    let power = other.strip_prefix(['e', 'E'])?;
                    let unsigned = power.strip_prefix(['+', '-']).unwrap_or(power);
                    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    power.parse::<i32>().ok()?
                }
            })?;
        }
        if negative {
            mantissa = -mantissa;
        }
        Some(Self::canonical(mantissa, exponent))
    }

    /// Strips trailing zeros so that equal amounts have equal representations.
    fn canonical(mut mantissa: i128, mut exponent: i32) -> Self {
        if mantissa == 0 {
            return Self {
                mantissa: 0,
                exponent: 0,
            };
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Self { mantissa, exponent }
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    #[test]
    fn equal_spellings() {
        let cases = [
            ("500m", "0.5"),
            ("1000m", "1"),
            ("1Gi", "1073741824"),
            ("1Ki", "1024"),
            ("1k", "1000"),
            ("1e3", "1k"),
            ("1.5Gi", "1536Mi"),
            ("0", "0m"),
            ("+2", "2"),
            ("100M", "1e8"),
            ("250u", "0.00025"),
            ("-1", "-1000m"),
            ("0.1", ".1"),
        ];
        for (left, right) in cases {
            assert_eq!(
                Quantity::parse(left),
                Quantity::parse(right),
                "{left} == {right}"
            );
            assert!(Quantity::parse(left).is_some(), "{left} parses");
        }
    }

    #[test]
    fn different_amounts() {
        for (left, right) in [("1G", "1Gi"), ("500m", "5"), ("1", "-1"), ("1e3", "1e4")] {
            assert_ne!(
                Quantity::parse(left),
                Quantity::parse(right),
                "{left} != {right}"
            );
        }
    }

    #[test]
    fn not_quantities() {
        for text in [
            "", "abc", "1x", "1.2.3", ".", "-", "1e", "1Kix", "nginx", "1 Gi", "e3", "1e+",
        ] {
            assert_eq!(Quantity::parse(text), None, "{text:?}");
        }
    }
}
