//! The asserted `format`s: `date-time`, `date`, `time` (RFC 3339), `email`, `hostname`, `ipv4`,
//! `ipv6`, `uri` and `uuid`.
//!
//! Invariant: each check is a pure function of the string, allocation-free where it can be, and
//! answers with a short reason a plan author can act on.

use super::Format;

pub(super) fn check_format(f: Format, s: &str) -> Result<(), &'static str> {
    match f {
        Format::DateTime => {
            let (date, time) = s
                .split_once(['T', 't'])
                .ok_or("missing 'T' between date and time")?;
            check_date(date)?;
            check_time(time)
        }
        Format::Date => check_date(s),
        Format::Time => check_time(s),
        Format::Email => check_email(s),
        Format::Hostname => check_hostname(s),
        Format::Ipv4 => s
            .parse::<std::net::Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| "not an IPv4 address"),
        Format::Ipv6 => s
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "not an IPv6 address"),
        Format::Uri => match url::Url::parse(s) {
            Ok(_) if s.chars().all(|c| c.is_ascii_graphic()) => Ok(()),
            Ok(_) => Err("contains characters a URI may not hold"),
            Err(url::ParseError::RelativeUrlWithoutBase) => Err("relative URI"),
            Err(_) => Err("not a URI"),
        },
        Format::Uuid => {
            let ok = s.len() == 36
                && s.char_indices().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => c == '-',
                    _ => c.is_ascii_hexdigit(),
                });
            if ok {
                Ok(())
            } else {
                Err("not 8-4-4-4-12 hex digits")
            }
        }
    }
}

/// `n` ASCII digits as a number, or `None`.
fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn check_date(s: &str) -> Result<(), &'static str> {
    let bad = "not a full-date (YYYY-MM-DD)";
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    let (y, m, d) = (
        digits(y, 4).ok_or(bad)?,
        digits(m, 2).ok_or(bad)?,
        digits(d, 2).ok_or(bad)?,
    );
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err("month out of range"),
    };
    if d == 0 || d > days {
        return Err("day out of range");
    }
    Ok(())
}

/// RFC 3339 `full-time`: `HH:MM:SS[.frac](Z|±HH:MM)`; a leap second (`:60`) only at 23:59 UTC.
fn check_time(s: &str) -> Result<(), &'static str> {
    let bad = "not a full-time (HH:MM:SS with an offset)";
    let b = s.as_bytes();
    if b.len() < 9 {
        return Err(bad);
    }
    let (hh, mm, ss) = (
        digits(s.get(0..2).ok_or(bad)?, 2).ok_or(bad)?,
        digits(s.get(3..5).ok_or(bad)?, 2).ok_or(bad)?,
        digits(s.get(6..8).ok_or(bad)?, 2).ok_or(bad)?,
    );
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return Err(bad);
    }
    let mut rest = s.get(8..).ok_or(bad)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad);
        }
        rest = frac.get(n..).ok_or(bad)?;
    }
    let offset_min: i64 = if rest == "Z" || rest == "z" {
        0
    } else {
        let sign = match rest.get(0..1) {
            Some("+") => -1,
            Some("-") => 1,
            _ => return Err("missing offset"),
        };
        let oh = digits(rest.get(1..3).ok_or(bad)?, 2).ok_or(bad)?;
        let om = digits(rest.get(4..6).ok_or(bad)?, 2).ok_or(bad)?;
        if rest.len() != 6 || rest.get(3..4) != Some(":") || oh > 23 || om > 59 {
            return Err("bad offset");
        }
        sign * (i64::from(oh) * 60 + i64::from(om))
    };
    if hh > 23 || mm > 59 || ss > 60 {
        return Err("time out of range");
    }
    if ss == 60 {
        let utc = (i64::from(hh) * 60 + i64::from(mm) + offset_min).rem_euclid(24 * 60);
        if utc != 23 * 60 + 59 {
            return Err("leap second not at 23:59 UTC");
        }
    }
    Ok(())
}

fn check_hostname(s: &str) -> Result<(), &'static str> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return Err("empty or longer than 253 characters");
    }
    for label in s.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err("bad label");
        }
    }
    Ok(())
}

/// RFC 5321 mailbox, ASCII: a dot-atom or quoted local part, `@`, a hostname or `[IP]`.
fn check_email(s: &str) -> Result<(), &'static str> {
    let at = s.rfind('@').ok_or("missing @")?;
    let (local, domain) = (s.get(..at).unwrap_or(""), s.get(at + 1..).unwrap_or(""));
    if local.is_empty() || local.len() > 64 {
        return Err("local part empty or longer than 64 characters");
    }
    if let Some(q) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        if q.bytes().any(|b| !(b' '..=b'~').contains(&b)) {
            return Err("bad quoted local part");
        }
    } else {
        const SPECIAL: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
        let ok = !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || SPECIAL.contains(&b));
        if !ok {
            return Err("bad local part");
        }
    }
    if let Some(ip) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let ok = match ip.strip_prefix("IPv6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => ip.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        return if ok {
            Ok(())
        } else {
            Err("bad address literal")
        };
    }
    check_hostname(domain).map_err(|_| "bad domain")
}
