//! Self-serve sign-up (`SIGNUP = "open"`): a new person, with a passkey, owning a new
//! organization on the default plan. What a sign-up asks is read here; how many an
//! address may make is counted per hour ([`SignUpWindow`], kept by the address's
//! throttle object so the count is global).

use crate::people::members::{parse_email, parse_person_name};
use crate::policy::body::{name, object};
use crate::policy::error::{ApiError, Field};

/// Sign-ups one address (an IPv4 address or an IPv6 /64) may complete per hour, unless
/// `SIGNUP_LIMIT_PER_HOUR` says otherwise.
pub const DEFAULT_SIGN_UPS_PER_HOUR: u32 = 3;

/// The window sign-ups are counted in.
pub const SIGN_UP_WINDOW_MS: u64 = 3_600_000;

/// What the sign-up page sends: `{"email", "name", "organizationName"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignUpRequest {
    /// The person's email (an identifier; nobody verifies it).
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their new organization's name.
    pub organization_name: String,
}

/// Parses a sign-up's body; each refusal names its field.
pub fn parse_sign_up(body: &[u8]) -> Result<SignUpRequest, ApiError> {
    let map = object(body, &["email", "name", "organizationName"])?;
    let text = |field: Field| {
        map.get(field.as_str())
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                ApiError::invalid_field(field, format!("{} is required, a string", field.as_str()))
            })
    };
    let email = parse_email(text(Field::Email)?)?;
    let person = parse_person_name(text(Field::Name)?)?;
    let organization = map.get("organizationName").ok_or_else(|| {
        ApiError::invalid_field(Field::OrganizationName, "organizationName is required")
    })?;
    // The one name rule of organizations, reported under this body's member.
    let organization_name = name(organization).map_err(|e| {
        ApiError::invalid_field(
            Field::OrganizationName,
            e.details.replacen("name", "organizationName", 1),
        )
    })?;
    Ok(SignUpRequest {
        email,
        name: person,
        organization_name,
    })
}

/// What the sign-up page sends after `navigator.credentials.create`, its binary members
/// base64url: the passkey (what the person asked is in the challenge's ceremony).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignUpCredential {
    /// `response.clientDataJSON`.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// `response.attestationObject`.
    pub attestation_object: String,
}

/// One address's completed sign-ups in the current hour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignUpWindow {
    /// When the window began, ms.
    pub start_ms: u64,
    /// Sign-ups in it.
    pub count: u32,
}

impl SignUpWindow {
    /// Counts one more sign-up at `now_ms` if `limit` allows it; otherwise the seconds
    /// until the window ends (and nothing is counted).
    pub fn admit(&mut self, limit: u32, now_ms: u64) -> Result<(), u64> {
        if now_ms.saturating_sub(self.start_ms) >= SIGN_UP_WINDOW_MS {
            *self = SignUpWindow {
                start_ms: now_ms,
                count: 0,
            };
        }
        if self.count >= limit {
            let ends = self.start_ms.saturating_add(SIGN_UP_WINDOW_MS);
            return Err(crate::base::timestamp::seconds_until(ends, now_ms).max(1));
        }
        self.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str) -> Option<&'static str> {
        parse_sign_up(body.as_bytes())
            .err()
            .and_then(|e| e.field)
            .map(Field::as_str)
    }

    #[test]
    fn a_sign_up_names_the_field_it_refuses() {
        let ok = parse_sign_up(
            br#"{"email":" ada@example.com ","name":"Ada","organizationName":"Analytical"}"#,
        )
        .expect("a whole sign-up");
        assert_eq!(ok.email, "ada@example.com");
        assert_eq!(ok.name, "Ada");
        assert_eq!(ok.organization_name, "Analytical");
        assert_eq!(
            field(r#"{"name":"Ada","organizationName":"A"}"#),
            Some("email")
        );
        assert_eq!(
            field(r#"{"email":"nope","name":"Ada","organizationName":"A"}"#),
            Some("email")
        );
        assert_eq!(
            field(r#"{"email":"a@b.c","organizationName":"A"}"#),
            Some("name")
        );
        assert_eq!(
            field(r#"{"email":"a@b.c","name":"Ada"}"#),
            Some("organizationName")
        );
        assert_eq!(
            field(r#"{"email":"a@b.c","name":"Ada","organizationName":"Acme\u202ePay"}"#),
            Some("organizationName")
        );
        let unknown = parse_sign_up(
            br#"{"email":"a@b.c","name":"Ada","organizationName":"A","plan":"enterprise"}"#,
        )
        .expect_err("plan is not a sign-up's");
        assert_eq!(unknown.status, 400, "a sign-up cannot choose its plan");
    }

    #[test]
    fn an_address_gets_its_hourly_sign_ups_then_waits_for_the_window() {
        let mut window = SignUpWindow::default();
        let t0 = 10 * SIGN_UP_WINDOW_MS;
        for _ in 0..3 {
            assert_eq!(window.admit(3, t0), Ok(()));
        }
        assert_eq!(window.admit(3, t0 + 1_000), Err(3_599));
        assert_eq!(window.count, 3, "a refusal is not counted");
        assert_eq!(
            window.admit(3, t0 + SIGN_UP_WINDOW_MS),
            Ok(()),
            "a new hour, a new count"
        );
        assert_eq!(window.count, 1);
    }
}
