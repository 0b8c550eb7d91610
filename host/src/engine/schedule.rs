//! When triggers fire: cron schedules (croner) read in a time zone, and poll intervals.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

use super::scenario::{parse_interval, Trigger};

/// The default poll interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Parses a cron pattern (five fields, or six with seconds first).
pub fn parse_cron(pattern: &str) -> Result<Cron, String> {
    pattern.parse::<Cron>().map_err(|e| {
        format!(
            "`{pattern}` is not a cron schedule ({e}): write five fields such as `*/15 * * * *`"
        )
    })
}

/// The next time (Unix ms) a trigger fires after `after_ms`; `None` for triggers that are not
/// timed (manual, webhook).
pub fn next_fire(trigger: &Trigger, after_ms: i64) -> Option<i64> {
    let cron_next = |pattern: &str, timezone: &Option<String>| -> Option<i64> {
        let cron = parse_cron(pattern).ok()?;
        let tz: Tz = timezone.as_deref().unwrap_or("UTC").parse().ok()?;
        let after = Utc
            .timestamp_millis_opt(after_ms)
            .single()?
            .with_timezone(&tz);
        cron.find_next_occurrence(&after, false)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_millis())
    };
    match trigger {
        Trigger::Schedule { cron, timezone } => cron_next(cron, timezone),
        Trigger::Poll {
            every,
            cron,
            timezone,
            ..
        } => match cron {
            Some(cron) => cron_next(cron, timezone),
            None => {
                let interval = every
                    .as_deref()
                    .and_then(parse_interval)
                    .unwrap_or(DEFAULT_POLL_INTERVAL);
                Some(after_ms + interval.as_millis() as i64)
            }
        },
        Trigger::Manual { .. } | Trigger::Webhook { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_in_a_zone() {
        let trigger = Trigger::Schedule {
            cron: "0 9 * * *".into(),
            timezone: Some("Europe/Berlin".into()),
        };
        // 2024-07-01T00:00:00Z → 09:00 in Berlin (CEST) is 07:00 UTC.
        let next = next_fire(&trigger, 1_719_792_000_000).unwrap();
        assert_eq!(next, 1_719_792_000_000 + 7 * 3_600_000);
        assert!(parse_cron("every tuesday").is_err());
        assert!(parse_cron("*/5 * * * *").is_ok());
    }

    #[test]
    fn poll_intervals() {
        let trigger: Trigger = serde_json::from_value(serde_json::json!({
            "type": "poll", "connector": "c", "trigger": "t", "every": "30s"
        }))
        .unwrap();
        assert_eq!(next_fire(&trigger, 1000), Some(31_000));
    }
}
