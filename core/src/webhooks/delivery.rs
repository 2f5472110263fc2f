//! One message to one endpoint: its state (`pending`, `delivered`, `failed`), its
//! attempts, and when it is next due. The organization's guard keeps one per event and
//! subscribed endpoint, written in the same step as the change (the outbox), and this
//! file decides what each attempt's outcome does to it.

use crate::base::timestamp::Timestamp;
use crate::ids::{MessageId, WebhookId};
use crate::webhooks::event::EventType;
use serde::{Deserialize, Serialize};

/// Attempts before a message is `failed`.
pub const MAX_ATTEMPTS: u32 = 8;
/// The wait after the first failed attempt.
pub const FIRST_RETRY_MS: u64 = 5_000;
/// Each further wait is this many times the one before.
pub const BACKOFF_FACTOR: u64 = 4;
/// An attempt's wait for the endpoint's answer.
pub const ATTEMPT_TIMEOUT_MS: u64 = 10_000;
/// How long a message handed to the queue is left to its consumer before the guard's
/// alarm hands it again (the queue lost it, or the consumer died mid-attempt):
/// longer than an attempt takes.
pub const HANDED_LEASE_MS: u64 = 30_000;

/// The wait before the next attempt after `attempts` failed ones (5 s, 20 s, 80 s, …:
/// about 7.6 hours in all); `None` once [`MAX_ATTEMPTS`] were made.
pub fn retry_delay_ms(attempts: u32) -> Option<u64> {
    if attempts == 0 || attempts >= MAX_ATTEMPTS {
        return None;
    }
    Some(FIRST_RETRY_MS * BACKOFF_FACTOR.pow(attempts - 1))
}

/// Where a message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx, attempts left.
    Pending,
    /// An attempt was answered with a 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// A message's state, as the guard stores it (the body is stored beside it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Its `webhook-id`.
    pub id: MessageId,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// What happened.
    pub event: EventType,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's status code (`None`: none made, or no answer in time).
    pub last_status_code: Option<u16>,
    /// When the last attempt was made.
    pub last_attempt_ms: Option<u64>,
    /// When it was recorded.
    pub created_ms: u64,
    /// When the guard's alarm hands it to the queue next (`None` once settled).
    pub next_ms: Option<u64>,
}

impl Delivery {
    /// A new message, due at once.
    pub fn new(id: MessageId, webhook_id: WebhookId, event: EventType, now_ms: u64) -> Delivery {
        Delivery {
            id,
            webhook_id,
            event,
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_status_code: None,
            last_attempt_ms: None,
            created_ms: now_ms,
            next_ms: Some(now_ms),
        }
    }

    /// Handed to the queue at `now_ms`: due again only if no attempt is recorded within
    /// the lease.
    pub fn handed(&mut self, now_ms: u64) {
        if self.status == DeliveryStatus::Pending {
            self.next_ms = Some(now_ms + HANDED_LEASE_MS);
        }
    }

    /// The number the next attempt has, or `None` when none is to be made.
    pub fn next_attempt(&self) -> Option<u32> {
        (self.status == DeliveryStatus::Pending).then_some(self.attempts + 1)
    }

    /// Records attempt number `attempt` and its answer (`None`: none within
    /// [`ATTEMPT_TIMEOUT_MS`], or the connection failed). A 2xx delivers; anything
    /// else waits [`retry_delay_ms`] or, after the last attempt, fails. An attempt
    /// already recorded (the queue delivered its message twice) changes nothing:
    /// answers whether this one counted.
    pub fn attempted(&mut self, attempt: u32, status_code: Option<u16>, now_ms: u64) -> bool {
        if self.next_attempt() != Some(attempt) {
            return false;
        }
        self.attempts = attempt;
        self.last_status_code = status_code;
        self.last_attempt_ms = Some(now_ms);
        if status_code.is_some_and(|code| (200..300).contains(&code)) {
            self.status = DeliveryStatus::Delivered;
            self.next_ms = None;
        } else if let Some(wait) = retry_delay_ms(attempt) {
            self.next_ms = Some(now_ms + wait);
        } else {
            self.status = DeliveryStatus::Failed;
            self.next_ms = None;
        }
        true
    }

    /// What the deliveries API shows.
    pub fn view(&self) -> DeliveryView {
        DeliveryView {
            id: self.id,
            webhook_id: self.webhook_id,
            event: self.event,
            status: self.status,
            attempts: self.attempts,
            last_status_code: self.last_status_code,
            last_attempt_at: self.last_attempt_ms.map(Timestamp),
            created_at: Timestamp(self.created_ms),
        }
    }
}

/// `GET /v1/auth/webhooks/{id}/deliveries`: one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Its `webhook-id`.
    pub id: MessageId,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// What happened.
    pub event: EventType,
    /// `pending`, `delivered` or `failed`.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's status code (`null`: none made, or no answer).
    pub last_status_code: Option<u16>,
    /// When the last attempt was made.
    pub last_attempt_at: Option<Timestamp>,
    /// When the event happened.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery::new(
            MessageId::from_chars("0123456789abcdef").expect("id"),
            WebhookId::from_chars("0123456789abcdef").expect("id"),
            EventType::ApiKeyCreated,
            1_000,
        )
    }

    #[test]
    fn the_schedule_is_exponential_from_five_seconds_and_ends() {
        assert_eq!(retry_delay_ms(0), None);
        assert_eq!(retry_delay_ms(1), Some(5_000));
        assert_eq!(retry_delay_ms(2), Some(20_000));
        assert_eq!(retry_delay_ms(3), Some(80_000));
        let waits: Vec<u64> = (1..MAX_ATTEMPTS).filter_map(retry_delay_ms).collect();
        assert_eq!(waits.len() as u32, MAX_ATTEMPTS - 1);
        assert!(waits.windows(2).all(|w| w[1] == w[0] * BACKOFF_FACTOR));
        assert_eq!(retry_delay_ms(MAX_ATTEMPTS), None);
        const { assert!(MAX_ATTEMPTS >= 6) };
    }

    #[test]
    fn a_2xx_delivers_anything_else_waits_then_fails() {
        let mut d = delivery();
        assert_eq!(d.next_ms, Some(1_000));
        d.handed(2_000);
        assert_eq!(d.next_ms, Some(2_000 + HANDED_LEASE_MS));
        assert!(d.attempted(1, Some(500), 3_000));
        assert_eq!(
            (d.status, d.attempts, d.next_ms),
            (DeliveryStatus::Pending, 1, Some(8_000))
        );
        assert!(d.attempted(2, None, 9_000));
        assert_eq!(d.last_status_code, None);
        assert_eq!(d.next_ms, Some(29_000));
        assert!(d.attempted(3, Some(204), 30_000));
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(d.next_ms, None);
        assert_eq!(d.next_attempt(), None);
        assert!(!d.attempted(4, Some(200), 31_000), "settled");

        let mut d = delivery();
        for attempt in 1..=MAX_ATTEMPTS {
            assert!(d.attempted(attempt, Some(302), u64::from(attempt) * 10));
        }
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.attempts, MAX_ATTEMPTS);
        assert_eq!(
            d.last_status_code,
            Some(302),
            "a redirect is not followed: a failure"
        );
    }

    #[test]
    fn an_attempt_counts_once() {
        let mut d = delivery();
        assert!(d.attempted(1, Some(500), 10));
        assert!(!d.attempted(1, Some(200), 11), "the same attempt again");
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert!(!d.attempted(3, Some(200), 12), "not the next one");
        assert_eq!(d.attempts, 1);
    }

    #[test]
    fn the_view_names_status_attempts_and_the_last_answer() {
        let mut d = delivery();
        d.attempted(1, Some(503), 2_000);
        let json = serde_json::to_value(d.view()).expect("json");
        assert_eq!(json["status"], "pending");
        assert_eq!(json["attempts"], 1);
        assert_eq!(json["lastStatusCode"], 503);
        assert_eq!(json["event"], "api_key.created");
        assert!(json["lastAttemptAt"].is_string());
        assert!(json.get("nextMs").is_none());
    }
}
