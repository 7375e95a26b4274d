//! Durations on the command line: a whole number and a unit (`90d`, `12h`, `30m`, `45s`, `2w`).

use chrono::TimeDelta;

pub fn parse(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: use s, m, h, d or w (e.g. 30d)"))?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let delta = match unit {
        "s" => TimeDelta::try_seconds(n),
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        "w" => TimeDelta::try_weeks(n),
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use s, m, h, d or w"
            ))
        }
    };
    delta.ok_or_else(|| format!("{text:?} is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("90d"), Ok(TimeDelta::days(90)));
        assert_eq!(parse("12h"), Ok(TimeDelta::hours(12)));
        assert_eq!(parse("30m"), Ok(TimeDelta::minutes(30)));
        assert_eq!(parse("45s"), Ok(TimeDelta::seconds(45)));
        assert_eq!(parse("2w"), Ok(TimeDelta::weeks(2)));
    }

    #[test]
    fn mistakes_are_explained() {
        for bad in ["", "30", "d", "3x", "-1d", "1.5h"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
