//! EventBridge schedule expressions: `rate(value unit)` and six-field `cron(...)`.

/// Checks an expression the way EventBridge would accept it.
pub fn check(expr: &str) -> Result<(), String> {
    // EventBridge reads ASCII with single spaces; anything else (a newline, a
    // Unicode space) would pass `split_whitespace` here and fail on deploy.
    if let Some((i, c)) = expr
        .chars()
        .enumerate()
        .find(|&(_, c)| !(c.is_ascii_graphic() || c == ' '))
    {
        return Err(format!(
            "character {} (U+{:04X}) is not allowed; a schedule is ASCII with single spaces",
            i + 1,
            c as u32
        ));
    }
    if expr.contains("  ") {
        return Err("fields are separated by single spaces".into());
    }
    if let Some(body) = inner(expr, "rate") {
        check_rate(body)
    } else if let Some(body) = inner(expr, "cron") {
        check_cron(body)
    } else {
        Err("expected `rate(...)` or `cron(...)`".into())
    }
}

fn inner<'a>(expr: &'a str, word: &str) -> Option<&'a str> {
    expr.strip_prefix(word)?
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn check_rate(body: &str) -> Result<(), String> {
    let mut parts = body.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("a rate is `rate(<number> <unit>)`".into());
    };
    let n: u64 = value
        .parse()
        .map_err(|_| format!("`{value}` is not a positive whole number"))?;
    if n == 0 {
        return Err("the rate must be at least 1".into());
    }
    let singular = matches!(unit, "minute" | "hour" | "day");
    let plural = matches!(unit, "minutes" | "hours" | "days");
    match (n == 1, singular, plural) {
        (true, true, _) | (false, _, true) => Ok(()),
        (true, false, true) => Err(format!(
            "with 1, the unit is singular: `rate(1 {})`",
            unit.trim_end_matches('s')
        )),
        (false, true, _) => Err(format!("with {n}, the unit is plural: `rate({n} {unit}s)`")),
        _ => Err(format!("unit `{unit}` is not minute(s), hour(s) or day(s)")),
    }
}

const FIELDS: [(&str, u32, u32); 6] = [
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 1, 7),
    ("year", 1970, 2199),
];

fn check_cron(body: &str) -> Result<(), String> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!(
            "cron takes six fields (minutes hours day-of-month month day-of-week year), found {}",
            fields.len()
        ));
    }
    for (field, (name, lo, hi)) in fields.iter().zip(FIELDS) {
        check_field(field, name, lo, hi)?;
    }
    let (dom, dow) = (fields[2], fields[4]);
    if (dom == "?") == (dow == "?") {
        return Err("exactly one of day-of-month and day-of-week must be `?`".into());
    }
    Ok(())
}

fn check_field(field: &str, name: &str, lo: u32, hi: u32) -> Result<(), String> {
    let wildcard_ok = matches!(name, "day-of-month" | "day-of-week");
    if field == "*" || (field == "?" && wildcard_ok) {
        return Ok(());
    }
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            step.parse::<u32>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("{name}: step `{step}` is not a positive number"))?;
        }
        if range == "*" {
            continue;
        }
        let bounds: Vec<&str> = range.split('-').collect();
        if bounds.is_empty() || bounds.len() > 2 {
            return Err(format!("{name}: `{item}` is not a value or range"));
        }
        for b in bounds {
            let v = value(b, name).ok_or_else(|| format!("{name}: `{b}` is not valid"))?;
            if !(lo..=hi).contains(&v) {
                return Err(format!("{name}: {v} is outside {lo}-{hi}"));
            }
        }
    }
    Ok(())
}

fn value(text: &str, field: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    if let Ok(v) = text.parse() {
        return Some(v);
    }
    let upper = text.trim_end_matches(['L', '#']).to_ascii_uppercase();
    let names: &[&str] = match field {
        "month" => &MONTHS,
        "day-of-week" => &DAYS,
        _ => return None,
    };
    names.iter().position(|n| *n == upper).map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_eventbridge_expressions() {
        for ok in [
            "rate(7 days)",
            "rate(1 hour)",
            "rate(15 minutes)",
            "cron(0 3 ? * MON *)",
            "cron(0/15 * * * ? *)",
            "cron(0 8 1 JAN-MAR ? 2027)",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_the_usual_mistakes() {
        for bad in [
            "every week",
            "rate(7 day)",
            "rate(1 days)",
            "rate(0 days)",
            "rate(7 weeks)",
            "cron(0 3 * * *)",
            "cron(0 3 * * MON *)",
            "cron(61 3 ? * MON *)",
            "rate(seven days)",
            "rate(7\ndays)",
            "rate(7\u{a0}days)",
            "rate(7  days)",
            "cron(0 3 ? * MON *)\n",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
