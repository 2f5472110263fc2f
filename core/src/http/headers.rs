//! The rate-limit headers of every authenticated response.
//!
//! `X-RateLimit-*` describe the hourly window as the spec shows it, or the daily window
//! when it has fewer requests left; the burst bucket never shows there. The IETF draft's
//! `RateLimit-Policy` and `RateLimit` fields list every window.

use crate::base::timestamp::{seconds_until, unix_seconds};
use crate::policy::ratelimit::{Status, WindowStatus};

/// The window `X-RateLimit-*` and the auth test's `rateLimit` describe: the hourly one,
/// or the daily one when it has fewer requests left.
pub fn shown_window(status: &Status) -> &WindowStatus {
    match &status.day {
        Some(day) if day.remaining < status.hour.remaining => day,
        _ => &status.hour,
    }
}

/// The headers for `status` as seen at `now_ms`.
pub fn rate_limit_headers(status: &Status, now_ms: u64) -> Vec<(&'static str, String)> {
    let shown = shown_window(status);
    let mut windows: Vec<(&str, &WindowStatus, u64)> = vec![("hour", &status.hour, 3600)];
    if let Some(day) = &status.day {
        windows.push(("day", day, 86_400));
    }
    windows.push(("burst", &status.burst, 1));
    let policy = windows
        .iter()
        .map(|(name, w, len)| format!("\"{name}\";q={};w={len}", w.limit))
        .collect::<Vec<_>>()
        .join(", ");
    let current = windows
        .iter()
        .map(|(name, w, _)| {
            format!(
                "\"{name}\";r={};t={}",
                w.remaining,
                seconds_until(w.reset_ms, now_ms)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        ("X-RateLimit-Limit", shown.limit.to_string()),
        ("X-RateLimit-Remaining", shown.remaining.to_string()),
        (
            "X-RateLimit-Reset",
            unix_seconds(shown.reset_ms).to_string(),
        ),
        ("RateLimit-Policy", policy),
        ("RateLimit", current),
    ]
}

/// Headers on every dashboard response: a strict Content-Security-Policy (no inline
/// script or style, nothing from another origin, no framing), no referrer, no sniffing.
pub const DASHBOARD_SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ratelimit::{check, Counters, Outcome, Policy};

    const T0: u64 = 1_674_385_800_000;

    #[test]
    fn first_request_headers_match_the_spec_and_draft() {
        let p = Policy::new(1000, Some(10_000), 50).expect("valid");
        let Outcome::Admitted { status, .. } = check(&p, &Counters::default(), T0) else {
            panic!("admitted");
        };
        let headers = rate_limit_headers(&status, T0);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .expect(name)
        };
        assert_eq!(get("X-RateLimit-Limit"), "1000");
        assert_eq!(get("X-RateLimit-Remaining"), "999");
        assert_eq!(get("X-RateLimit-Reset"), "1674389400");
        assert_eq!(
            get("RateLimit-Policy"),
            "\"hour\";q=1000;w=3600, \"day\";q=10000;w=86400, \"burst\";q=50;w=1"
        );
        assert_eq!(
            get("RateLimit"),
            "\"hour\";r=999;t=3600, \"day\";r=9999;t=86400, \"burst\";r=49;t=1"
        );
    }

    #[test]
    fn daily_window_shows_when_it_has_less_left() {
        let p = Policy::new(100, Some(3), 50).expect("valid");
        let Outcome::Admitted { status, .. } = check(&p, &Counters::default(), T0) else {
            panic!("admitted");
        };
        let headers = rate_limit_headers(&status, T0);
        assert_eq!(headers[0], ("X-RateLimit-Limit", "3".to_owned()));
        assert_eq!(headers[1], ("X-RateLimit-Remaining", "2".to_owned()));
    }

    #[test]
    fn no_daily_cap_omits_the_day_window() {
        let p = Policy::new(10_000, None, 500).expect("valid");
        let Outcome::Admitted { status, .. } = check(&p, &Counters::default(), T0) else {
            panic!("admitted");
        };
        let headers = rate_limit_headers(&status, T0);
        assert_eq!(headers[3].1, "\"hour\";q=10000;w=3600, \"burst\";q=500;w=1");
    }
}
