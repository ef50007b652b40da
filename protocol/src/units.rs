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

/// Bytes in binary units with one decimal: `1536` -> `1.5 KiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut whole = bytes;
    while whole >= 1024 && unit + 1 < UNITS.len() {
        whole /= 1024;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} B");
    }
    // Tenths of the unit, from integers: no float rounding surprises.
    let tenths = u128::from(bytes) * 10 / (1u128 << (10 * unit));
    let (int, frac) = (tenths / 10, tenths % 10);
    if frac == 0 {
        format!("{int} {}", UNITS[unit])
    } else {
        format!("{int}.{frac} {}", UNITS[unit])
    }
}

/// Unix seconds as `2026-12-06 02:00 UTC` (the proleptic Gregorian calendar).
pub fn format_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let minutes = (secs % 86_400) / 60;
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{format_bytes, format_units, format_utc, parse_size};

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_764_986_400), "2025-12-06 02:00 UTC");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31 23:59 UTC");
    }
    #[test]
    fn bytes_read_in_binary_units_without_rounding_up() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1 KiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes((1 << 20) - 1), "1023.9 KiB");
        assert_eq!(format_bytes(10 << 30), "10 GiB");
        assert_eq!(format_bytes(u64::MAX), "16777215.9 TiB");
    }

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
