//! An organization's webhook endpoints: the record its guard stores (with the secret,
//! which must be kept to sign), the view the API shows (without it), the create and
//! patch bodies, and the rules a URL must meet.

use crate::base::network::{canonical, IpBlock};
use crate::base::text::printable;
use crate::base::timestamp::Timestamp;
use crate::ids::{OrgId, WebhookId};
use crate::policy::body;
use crate::policy::error::{ApiError, Field};
use crate::webhooks::event::EventType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

/// Endpoints one organization may have.
pub const MAX_ENDPOINTS: usize = 16;
/// Longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest description, in chars.
pub const MAX_DESCRIPTION_LEN: usize = 256;
/// How long a rotated secret keeps signing beside its successor.
pub const ROTATION_OVERLAP_MS: u64 = 24 * 60 * 60 * 1000;

/// An endpoint as its organization's guard stores it. Never shown as it is: it holds
/// the secret (`view` is what the API shows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointRecord {
    /// Its id.
    pub id: WebhookId,
    /// Where messages are posted.
    pub url: String,
    /// What it is sent.
    pub events: Vec<EventType>,
    /// The owner's note.
    pub description: Option<String>,
    /// When it was created.
    pub created_ms: u64,
    /// The signing secret (`whsec_…`).
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_until_ms`.
    #[serde(default)]
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing.
    #[serde(default)]
    pub previous_until_ms: Option<u64>,
}

impl EndpointRecord {
    /// A new endpoint with `secret` (made by the worker from random bytes:
    /// `signature::new_secret`).
    pub fn new(id: WebhookId, new: NewEndpoint, secret: String, now_ms: u64) -> EndpointRecord {
        EndpointRecord {
            id,
            url: new.url,
            events: new.events,
            description: new.description,
            created_ms: now_ms,
            secret,
            previous_secret: None,
            previous_until_ms: None,
        }
    }

    /// Whether it is sent `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.events.contains(&event)
    }

    /// The secrets that sign at `now_ms`: the current one, then the previous one during
    /// the rotation's overlap.
    pub fn signing_secrets(&self, now_ms: u64) -> Vec<String> {
        let mut secrets = vec![self.secret.clone()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_until_ms) {
            if now_ms < until {
                secrets.push(previous.clone());
            }
        }
        secrets
    }

    /// Replaces the secret; the old one signs beside it for [`ROTATION_OVERLAP_MS`].
    pub fn rotate(&mut self, secret: String, now_ms: u64) {
        let old = core::mem::replace(&mut self.secret, secret);
        self.previous_secret = Some(old);
        self.previous_until_ms = Some(now_ms + ROTATION_OVERLAP_MS);
    }

    /// What the API shows: never the secret.
    pub fn view(&self) -> EndpointView {
        EndpointView {
            id: self.id,
            url: self.url.clone(),
            events: self.events.clone(),
            description: self.description.clone(),
            created_at: Timestamp(self.created_ms),
        }
    }

    /// The view with the current secret: the one answer that shows it (create, rotate).
    pub fn created_view(&self) -> CreatedEndpoint {
        CreatedEndpoint {
            view: self.view(),
            secret: self.secret.clone(),
        }
    }
}

/// An endpoint as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// `wh_…`
    pub id: WebhookId,
    /// Where messages are posted.
    pub url: String,
    /// What it is sent.
    pub events: Vec<EventType>,
    /// The owner's note.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// `POST /v1/auth/webhooks` and `…/rotate-secret`: the view and the secret, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedEndpoint {
    /// The endpoint.
    #[serde(flatten)]
    pub view: EndpointView,
    /// Its signing secret.
    pub secret: String,
}

/// A validated create body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEndpoint {
    /// Where.
    pub url: String,
    /// What.
    pub events: Vec<EventType>,
    /// The note.
    pub description: Option<String>,
    /// The organization named (the root key's choice).
    pub organization_id: Option<OrgId>,
}

/// A validated patch body: each field given replaces the endpoint's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<String>,
    /// New events.
    pub events: Option<Vec<EventType>>,
    /// A new note (`Some(None)`: removed).
    pub description: Option<Option<String>>,
}

impl EndpointPatch {
    /// Applies it.
    pub fn apply(self, record: &mut EndpointRecord) {
        if let Some(url) = self.url {
            record.url = url;
        }
        if let Some(events) = self.events {
            record.events = events;
        }
        if let Some(description) = self.description {
            record.description = description;
        }
    }
}

/// Reads `POST /v1/auth/webhooks`. `allow_loopback`: the var `WEBHOOK_ALLOW_HTTP_LOOPBACK`.
pub fn parse_create(body: &[u8], allow_loopback: bool) -> Result<NewEndpoint, ApiError> {
    let map = body::object(body, &["url", "events", "description", "organizationId"])?;
    let url = match map.get("url") {
        Some(value) => field_url(value, allow_loopback)?,
        None => return Err(ApiError::invalid_field(Field::Url, "url is required")),
    };
    let events = match map.get("events") {
        Some(value) => field_events(value)?,
        None => return Err(ApiError::invalid_field(Field::Events, "events is required")),
    };
    let description = match map.get("description") {
        None | Some(Value::Null) => None,
        Some(value) => Some(field_description(value)?),
    };
    let organization_id = crate::keys::admin::organization_named(body)?;
    Ok(NewEndpoint {
        url,
        events,
        description,
        organization_id,
    })
}

/// Reads `PATCH /v1/auth/webhooks/{id}`.
pub fn parse_patch(body: &[u8], allow_loopback: bool) -> Result<EndpointPatch, ApiError> {
    let map = body::object(body, &["url", "events", "description"])?;
    Ok(EndpointPatch {
        url: map
            .get("url")
            .map(|v| field_url(v, allow_loopback))
            .transpose()?,
        events: map.get("events").map(field_events).transpose()?,
        description: match map.get("description") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(value) => Some(Some(field_description(value)?)),
        },
    })
}

fn field_url(value: &Value, allow_loopback: bool) -> Result<String, ApiError> {
    let url = value
        .as_str()
        .ok_or_else(|| ApiError::invalid_field(Field::Url, "url must be a string"))?;
    check_url(url, allow_loopback).map_err(|e| ApiError::invalid_field(Field::Url, e))?;
    Ok(url.to_owned())
}

fn field_events(value: &Value) -> Result<Vec<EventType>, ApiError> {
    let invalid = |details: String| ApiError::invalid_field(Field::Events, details);
    let names: Vec<&str> = value
        .as_array()
        .and_then(|items| items.iter().map(Value::as_str).collect())
        .ok_or_else(|| invalid("events must be an array of event names".into()))?;
    if names.is_empty() {
        return Err(invalid("events must name at least one event".into()));
    }
    let mut events = Vec::with_capacity(names.len());
    for name in names {
        let event = EventType::parse(name).ok_or_else(|| {
            invalid(format!(
                "Unknown event '{}'; known events are {}",
                printable(name),
                EventType::ALL.map(EventType::as_str).join(", ")
            ))
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

fn field_description(value: &Value) -> Result<String, ApiError> {
    let invalid = |details: String| ApiError::invalid_field(Field::Description, details);
    let text = value
        .as_str()
        .ok_or_else(|| invalid("description must be a string or null".into()))?;
    if text.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(invalid(format!(
            "description must be at most {MAX_DESCRIPTION_LEN} characters"
        )));
    }
    crate::base::text::check_label("description", text).map_err(invalid)?;
    Ok(text.to_owned())
}

/// Addresses a webhook may never be posted to: this network, private, shared (CGNAT),
/// loopback, link-local, benchmarking, multicast and reserved ranges, and their IPv6
/// counterparts (unique local, link-local, site-local, multicast, NAT64 of any of
/// them is read as IPv4 first).
const REFUSED_BLOCKS: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "64:ff9b::/96",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

/// Whether a webhook may be posted to the address `address`.
fn is_public(address: IpAddr) -> bool {
    let address = canonical(address);
    !REFUSED_BLOCKS.iter().any(|block| {
        IpBlock::parse(block)
            .map(|b| b.contains(address))
            .unwrap_or(true)
    })
}

/// The loopback hosts `WEBHOOK_ALLOW_HTTP_LOOPBACK` opens (for local development and
/// tests), on any port, with http or https.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// Checks a webhook URL: `https`; an absolute URL with a host and nothing a client would
/// rewrite; no user info; no bare address in a private, loopback, link-local or other
/// non-public range, nor `localhost`. With `allow_loopback`, `http` and `https` to
/// 127.0.0.1, localhost and [::1] too. A DNS name is not resolved here: the worker
/// cannot see what a name resolves to (SECURITY.md).
pub fn check_url(url: &str, allow_loopback: bool) -> Result<(), String> {
    let shown = printable(url);
    if url.len() > MAX_URL_LEN {
        return Err(format!("url must be at most {MAX_URL_LEN} characters"));
    }
    if url.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b'\\') {
        return Err(format!(
            "url '{shown}' has spaces, control or non-ASCII characters; percent-encode them (and write a host name in punycode)"
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("url '{shown}' must be an absolute https:// URL"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err(format!("url '{shown}' must use https")),
    };
    if rest.contains('#') {
        return Err(format!("url '{shown}' has a fragment; it is never sent"));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!("url '{shown}' has user info; it is not allowed"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inside, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("url '{shown}' has an unclosed IPv6 address"))?;
            (format!("[{inside}]"), after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        },
    };
    let host = host.to_ascii_lowercase();
    if host.is_empty() {
        return Err(format!("url '{shown}' has no host"));
    }
    if let Some(port) = port {
        let valid = !port.starts_with('0')
            && port.len() <= 5
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err(format!(
                "url '{shown}' has an invalid port; use 1 to 65535, without leading zeros"
            ));
        }
    }
    let loopback = LOOPBACK_HOSTS.contains(&host.as_str());
    if allow_loopback && loopback {
        return Ok(());
    }
    if !https {
        return Err(format!("url '{shown}' must use https"));
    }
    if let Some(inside) = host.strip_prefix('[') {
        let address: IpAddr = inside
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("url '{shown}' has an invalid IPv6 address"))?;
        return public_address(address, &shown);
    }
    let host_chars = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
    if !host.bytes().all(host_chars) {
        return Err(format!(
            "url '{shown}' has a host with characters a host name cannot have"
        ));
    }
    // A URL parser reads a host whose last label is a number as an IPv4 address, in any
    // of its forms (`2130706433`, `0x7f.1`, `127.1`): only the dotted decimal form is
    // accepted, so the address checked is the one fetched.
    let labels = host.strip_suffix('.').unwrap_or(&host);
    let last = labels.rsplit('.').next().unwrap_or_default();
    let numeric =
        !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x"));
    if numeric {
        let address: IpAddr = labels
            .parse::<std::net::Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| {
                format!("url '{shown}' has a host that reads as an IP address; write it as four decimal numbers")
            })?;
        return public_address(address, &shown);
    }
    if labels == "localhost" || labels.ends_with(".localhost") {
        return Err(format!(
            "url '{shown}' names this machine; webhooks go to public hosts"
        ));
    }
    if !labels.contains('.') {
        return Err(format!(
            "url '{shown}' needs a fully qualified host name (a public domain)"
        ));
    }
    Ok(())
}

fn public_address(address: IpAddr, shown: &str) -> Result<(), String> {
    if is_public(address) {
        Ok(())
    } else {
        Err(format!(
            "url '{shown}' is a private, loopback, link-local or reserved address; webhooks go to public hosts"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_to_public_hosts_is_accepted() {
        for url in [
            "https://hooks.example.com/scopien",
            "https://hooks.example.com:8443/in?x=1",
            "HTTPS://Hooks.Example.com/",
            "https://203.0.113.7/hook",
            "https://[2001:db8::1]:443/hook",
            "https://example.com./x",
        ] {
            assert_eq!(check_url(url, false), Ok(()), "{url}");
        }
    }

    #[test]
    fn other_schemes_user_info_and_private_addresses_are_refused() {
        for url in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "javascript:alert(1)",
            "hooks.example.com/x",
            "https://user:pw@hooks.example.com/",
            "https://@hooks.example.com/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://127.1/",
            "https://0177.0.0.1/",
            "https://localhost/",
            "https://a.localhost/",
            "https://intranet/",
            "https://hooks.example.com:0/",
            "https://hooks.example.com:65536/",
            "https://hooks.example.com/#frag",
            "https://hooks example.com/",
            "https:///path",
        ] {
            assert!(check_url(url, false).is_err(), "{url} was accepted");
        }
    }

    #[test]
    fn loopback_over_http_only_when_allowed() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://[::1]:9/x",
            "https://localhost:3000/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert_eq!(check_url(url, true), Ok(()), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "http://127.0.0.2/",
            "http://example.com/",
            "http://user@localhost/",
            "file://localhost/etc/passwd",
        ] {
            assert!(check_url(url, true).is_err(), "{url}");
        }
    }

    #[test]
    fn create_names_the_field_at_fault() {
        let ok = parse_create(
            br#"{"url":"https://h.example.com/x","events":["api_key.created","api_key.created"],"description":"CRM"}"#,
            false,
        )
        .expect("valid");
        assert_eq!(ok.events, vec![EventType::ApiKeyCreated]);
        assert_eq!(ok.description.as_deref(), Some("CRM"));
        for (body, field) in [
            (r#"{"events":["api_key.created"]}"#, Some(Field::Url)),
            (
                r#"{"url":"http://h.example.com","events":["api_key.created"]}"#,
                Some(Field::Url),
            ),
            (
                r#"{"url":7,"events":["api_key.created"]}"#,
                Some(Field::Url),
            ),
            (r#"{"url":"https://h.example.com"}"#, Some(Field::Events)),
            (
                r#"{"url":"https://h.example.com","events":[]}"#,
                Some(Field::Events),
            ),
            (
                r#"{"url":"https://h.example.com","events":["key.made"]}"#,
                Some(Field::Events),
            ),
            (
                r#"{"url":"https://h.example.com","events":"api_key.created"}"#,
                Some(Field::Events),
            ),
            (
                r#"{"url":"https://h.example.com","events":["api_key.created"],"description":5}"#,
                Some(Field::Description),
            ),
            (
                r#"{"url":"https://h.example.com","events":["api_key.created"],"organizationId":"x"}"#,
                Some(Field::OrganizationId),
            ),
            (
                r#"{"url":"https://h.example.com","events":["api_key.created"],"secret":"x"}"#,
                None,
            ),
        ] {
            let err = parse_create(body.as_bytes(), false).expect_err(body);
            assert_eq!(err.status, 400, "{body}");
            assert_eq!(err.field, field, "{body}");
        }
    }

    #[test]
    fn a_patch_replaces_what_it_names() {
        let mut record = EndpointRecord::new(
            WebhookId::from_chars("0123456789abcdef").expect("id"),
            parse_create(br#"{"url":"https://a.example.com","events":["api_key.created"],"description":"x"}"#, false)
                .expect("valid"),
            "whsec_old".into(),
            5,
        );
        parse_patch(
            br#"{"events":["api_key.revoked"],"description":null}"#,
            false,
        )
        .expect("valid")
        .apply(&mut record);
        assert_eq!(record.events, vec![EventType::ApiKeyRevoked]);
        assert_eq!(record.description, None);
        assert_eq!(record.url, "https://a.example.com");
        let err = parse_patch(br#"{"url":"https://10.0.0.1/"}"#, false).expect_err("private");
        assert_eq!(err.field, Some(Field::Url));
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
        let mut record = EndpointRecord::new(
            WebhookId::from_chars("0123456789abcdef").expect("id"),
            parse_create(
                br#"{"url":"https://a.example.com","events":["api_key.created"]}"#,
                false,
            )
            .expect("valid"),
            "whsec_old".into(),
            0,
        );
        assert_eq!(record.signing_secrets(1), vec!["whsec_old".to_owned()]);
        record.rotate("whsec_new".into(), 1_000);
        assert_eq!(
            record.signing_secrets(1_000 + ROTATION_OVERLAP_MS - 1),
            vec!["whsec_new".to_owned(), "whsec_old".to_owned()]
        );
        assert_eq!(
            record.signing_secrets(1_000 + ROTATION_OVERLAP_MS),
            vec!["whsec_new".to_owned()]
        );
        let view = serde_json::to_value(record.view()).expect("json");
        assert!(view.get("secret").is_none());
        assert!(!view.to_string().contains("whsec_"));
        let created = serde_json::to_value(record.created_view()).expect("json");
        assert_eq!(created["secret"], "whsec_new");
        assert_eq!(created["id"], "wh_0123456789abcdef");
    }
}
