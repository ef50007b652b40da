//! Human sizes: what a user types for a quota or a rate (`10GiB`, `512MiB`, `5MB`) and bytes;
//! and token amounts (18 decimals) in whole units.

/// Parses `123`, `64KiB`, `512MiB`, `10GiB`, `2TiB` (also `KB`/`MB`/`GB`/`TB`, powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("{s:?} is not a size: expected a number and an optional unit like 10GiB")
    })?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?}: use B, KiB, MiB, GiB or TiB"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Decimals of CAIRN and ETH amounts.
pub const TOKEN_DECIMALS: usize = 18;

/// An amount in base units (a decimal string, as JSON carries them) in whole units, cut (not
/// rounded) to at most `shown` decimals, without trailing zeros: `200`, `0.5`, `1234.5678`.
/// `None` for text that is not a non-negative integer.
pub fn format_units(base_units: &str, shown: usize) -> Option<String> {
    if base_units.is_empty() || !base_units.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{base_units:0>width$}", width = TOKEN_DECIMALS + 1);
    let (whole, fraction) = padded.split_at(padded.len() - TOKEN_DECIMALS);
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let fraction = fraction[..shown.min(TOKEN_DECIMALS)].trim_end_matches('0');
    Some(if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    })
}

#[cfg(test)]
mod tests {
    use super::{format_units, parse_size};

    #[test]
    fn sizes_parse_with_units_and_bad_ones_explain() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert!(parse_size("ten").unwrap_err().contains("not a size"));
        assert!(parse_size("5XB").unwrap_err().contains("unknown size unit"));
        assert!(
            parse_size("99999999999TiB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn amounts_read_in_whole_units() {
        let units = |text: &str, shown| format_units(text, shown).unwrap();
        assert_eq!(units("0", 4), "0");
        assert_eq!(units("10000000000000000", 4), "0.01");
        assert_eq!(units("1234567890000000000000", 4), "1234.5678");
        assert_eq!(units("99999", 4), "0", "cut, not rounded up");
        assert_eq!(units("1", 18), "0.000000000000000001");
        assert_eq!(units("500000000000000000", 18), "0.5");
        assert_eq!(units("200000000000000000000", 18), "200");
        assert_eq!(format_units("-5", 4), None, "not an amount");
        assert_eq!(format_units("", 4), None);
    }
}
