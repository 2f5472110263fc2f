//! Passkey ceremonies for the dashboard (issue #22): the invitation page's "Create
//! passkey" and the sign-in page's "Sign in with a passkey". Core checks what the
//! authenticator sent (`people::webauthn`); the signature is verified here with
//! WebCrypto; challenges are single-use and short-lived (`CeremonyGuard`). What comes
//! out is who signed in; `dashboard.rs` opens their session.
//!
//! ```text
//!  POST /dashboard/passkey/invitation        {token} → {email, role}
//!  POST /dashboard/passkey/register/options  {token} → creation options (challenge)
//!  POST /dashboard/passkey/register          {token, name, clientDataJSON, attestationObject}
//!  POST /dashboard/passkey/signin/options    → request options (challenge)
//!  POST /dashboard/passkey/signin            {credentialId, clientDataJSON, authenticatorData, signature, userHandle}
//!  POST /dashboard/passkey/join              {token, …the sign-in's fields}: an invitation, with a passkey held already
//!  POST /dashboard/passkey/signup/options    {email, name, organizationName} → creation options (SIGNUP = "open")
//!  POST /dashboard/passkey/signup            {clientDataJSON, attestationObject}
//! ```

use crate::client;
use crate::config;
use crate::http;
use crate::throttle::Verdict;
use crate::webcrypto::{self, algorithm};
use js_sys::{Array, Uint8Array};
use scopien_auth::base::timestamp::format_ms;
use scopien_auth::credentials::key::hash_hex;
use scopien_auth::ids::{Actor, OrgId, PersonId, RANDOM_BYTES_FOR_ORG, RANDOM_BYTES_FOR_PEOPLE_ID};
use scopien_auth::org::{OrgAnswer, OrgInput, OrgRecord};
use scopien_auth::people::ceremony::{Ceremony, CeremonyAnswer, CeremonyInput, Purpose};
use scopien_auth::people::members::{
    parse_person_name, InvitationToken, Member, PeopleAnswer, PeopleInput,
};
use scopien_auth::people::person::{
    parse_passkey_name, Passkey, PasskeyList, PasskeyView, PersonAnswer, PersonInput, PersonRecord,
    MAX_PASSKEYS,
};
use scopien_auth::people::signup::{parse_sign_up, SignUpCredential};
use scopien_auth::people::webauthn::{
    base64url_decode, parse_client_data, AssertionRequest, NewPasskey, PublicKey,
    RegistrationRequest, WebAuthnError, CEREMONY_TTL_MS, CHALLENGE_BYTES,
};
use scopien_auth::ApiError;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{Env, Response, Result};

/// Who a ceremony signed in, or the answer that refused it.
pub(crate) enum Outcome {
    /// Signed in: open their session.
    SignedIn {
        /// Who.
        person_id: PersonId,
        /// Where.
        organization_id: OrgId,
        /// With which passkey (its removal ends the session).
        credential_id: String,
    },
    /// Refused (or a fault's answer).
    Answer(Response),
}

fn refused(error: WebAuthnError) -> Result<Outcome> {
    Ok(Outcome::Answer(http::error(&error.api_error())?))
}

fn answer(error: &ApiError) -> Result<Outcome> {
    Ok(Outcome::Answer(http::error(error)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> std::result::Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(format!("The body is not what this call takes: {e}"))
    })
}

/// The pending invitation a token names, and its organization.
async fn pending(
    env: &Env,
    token: &str,
) -> Result<std::result::Result<(OrgId, scopien_auth::people::members::Invitation), ApiError>> {
    let Some((token, org)) = InvitationToken::parse(token).and_then(|t| {
        let org = t.organization()?;
        Some((t, org))
    }) else {
        return Ok(Err(ApiError::invitation_invalid()));
    };
    let peek = PeopleInput::Peek {
        token_hash: token.hash_hex(),
    };
    Ok(match client::people(env, org, &peek).await? {
        PeopleAnswer::Invitation(invitation) => Ok((org, invitation)),
        _ => Err(ApiError::invitation_invalid()),
    })
}

/// `{token}` → the invitation's email and role, for the page to show.
pub(crate) async fn invitation(env: &Env, body: &[u8]) -> Result<Response> {
    let body: TokenBody = match parse(body) {
        Ok(b) => b,
        Err(e) => return http::error(&e),
    };
    match pending(env, &body.token).await? {
        Ok((_, invitation)) => http::json(
            200,
            &serde_json::json!({
                "email": invitation.email,
                "role": invitation.role,
                "expiresAt": format_ms(invitation.expires_ms),
                "recovery": invitation.recovers.is_some(),
            }),
        ),
        Err(e) => http::error(&e),
    }
}

/// A new challenge for `purpose`, remembered by its guard.
async fn challenge(
    env: &Env,
    purpose: Purpose,
    now_ms: u64,
) -> Result<Option<[u8; CHALLENGE_BYTES]>> {
    let challenge = crate::platform::random_bytes::<CHALLENGE_BYTES>()?;
    let ceremony = Ceremony {
        purpose,
        expires_ms: now_ms.saturating_add(CEREMONY_TTL_MS),
    };
    let name = scopien_auth::base::base64::base64url(&challenge);
    Ok(
        match client::ceremony(env, &name, &CeremonyInput::Open(ceremony)).await? {
            CeremonyAnswer::Opened => Some(challenge),
            _ => None,
        },
    )
}

/// The challenge a `clientDataJSON` answers, taken from its guard (once).
async fn take(
    env: &Env,
    client_data_json: &[u8],
) -> Result<std::result::Result<(Vec<u8>, Purpose), WebAuthnError>> {
    let client = match parse_client_data(client_data_json) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    if client.challenge.len() != CHALLENGE_BYTES {
        return Ok(Err(WebAuthnError::WrongChallenge));
    }
    let name = scopien_auth::base::base64::base64url(&client.challenge);
    Ok(
        match client::ceremony(env, &name, &CeremonyInput::Take).await? {
            CeremonyAnswer::Taken(ceremony) => Ok((client.challenge, ceremony.purpose)),
            _ => Err(WebAuthnError::WrongChallenge),
        },
    )
}

/// `{token}` → creation options for a new person invited by it.
pub(crate) async fn register_options(env: &Env, body: &[u8], now_ms: u64) -> Result<Response> {
    let body: TokenBody = match parse(body) {
        Ok(b) => b,
        Err(e) => return http::error(&e),
    };
    let (org, invitation) = match pending(env, &body.token).await? {
        Ok(found) => found,
        Err(e) => return http::error(&e),
    };
    // A recovery link's passkey is its member's: their id is the user handle.
    let person_id = match invitation.recovers {
        Some(member) => member,
        None => PersonId::generate(&crate::platform::random_bytes::<RANDOM_BYTES_FOR_PEOPLE_ID>()?),
    };
    let purpose = Purpose::Register {
        org,
        token_hash: invitation.token_hash.clone(),
        person_id,
        recovery: invitation.recovers.is_some(),
    };
    let Some(challenge) = challenge(env, purpose, now_ms).await? else {
        return http::error(&ApiError::service_unavailable(
            "Could not start the ceremony; retry",
        ));
    };
    let rp = config::passkey_relying_party(env);
    let options = rp.creation_options(&challenge, person_id.chars(), &invitation.email, &[]);
    http::json(200, &serde_json::json!({ "publicKey": options }))
}

fn bytes(text: &str, what: &'static str) -> std::result::Result<Vec<u8>, WebAuthnError> {
    base64url_decode(text).ok_or(WebAuthnError::Malformed(what))
}

/// A registration's credential (`navigator.credentials.create`'s two members, base64url):
/// decoded, its challenge taken from its guard (once), and the new passkey verified
/// against it; with what the challenge was given for, which the caller must match.
async fn registered(
    env: &Env,
    client_data_json: &str,
    attestation_object: &str,
) -> Result<std::result::Result<(Purpose, NewPasskey), WebAuthnError>> {
    let (client_data_json, attestation) = match (
        bytes(client_data_json, "clientDataJSON"),
        bytes(attestation_object, "attestationObject"),
    ) {
        (Ok(c), Ok(a)) => (c, a),
        (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
    };
    let (challenge, purpose) = match take(env, &client_data_json).await? {
        Ok(taken) => taken,
        Err(e) => return Ok(Err(e)),
    };
    let rp = config::passkey_relying_party(env);
    Ok(rp
        .verify_registration(&client_data_json, &attestation, &challenge)
        .map(|passkey| (purpose, passkey)))
}

/// Creates the person, their passkey and their membership, through the invitation.
pub(crate) async fn register(env: &Env, body: &[u8], now_ms: u64) -> Result<Outcome> {
    let request: RegistrationRequest = match parse(body) {
        Ok(r) => r,
        Err(e) => return answer(&e),
    };
    let (purpose, passkey) =
        match registered(env, &request.client_data_json, &request.attestation_object).await? {
            Ok(made) => made,
            Err(e) => return refused(e),
        };
    let token_hash = InvitationToken::parse(&request.token).map(|t| t.hash_hex());
    let (org, person_id, recovery) = match purpose {
        Purpose::Register {
            org,
            token_hash: expected,
            person_id,
            recovery,
        } if token_hash.as_deref() == Some(expected.as_str()) => (org, person_id, recovery),
        _ => return refused(WebAuthnError::WrongChallenge),
    };
    if recovery {
        return recovered(
            env,
            org,
            token_hash.unwrap_or_default(),
            person_id,
            passkey,
            now_ms,
        )
        .await;
    }
    let name = match parse_person_name(&request.name) {
        Ok(name) => name,
        Err(e) => return answer(&e),
    };
    // The invitation is used up here, once: two holders of one link cannot both join.
    let accept = PeopleInput::Accept {
        token_hash: token_hash.unwrap_or_default(),
        person_id,
        name: name.clone(),
    };
    let member = match client::people(env, org, &accept).await? {
        PeopleAnswer::Member(member) if member.person_id == person_id => member,
        // Already a member (a second link): used up, nobody new joins.
        PeopleAnswer::Member(_) => return answer(&ApiError::invitation_invalid()),
        PeopleAnswer::Full => {
            return answer(&ApiError::conflict("This organization has 1000 members"))
        }
        _ => return answer(&ApiError::invitation_invalid()),
    };
    joined(env, member, name, passkey, org, now_ms).await
}

/// A recovery link used by its member: the link is used up (in the people guard, which
/// also checks they are still a member), the new passkey is added to theirs
/// (`passkey.added`), and they are signed in. Their other passkeys stay, to remove on
/// Settings → Passkeys if they were stolen rather than lost.
async fn recovered(
    env: &Env,
    org: OrgId,
    token_hash: String,
    person_id: PersonId,
    made: NewPasskey,
    now_ms: u64,
) -> Result<Outcome> {
    let accept = PeopleInput::Accept {
        token_hash,
        person_id,
        name: String::new(),
    };
    match client::people(env, org, &accept).await? {
        PeopleAnswer::Member(member) if member.person_id == person_id => {}
        _ => return answer(&ApiError::invitation_invalid()),
    }
    let passkey = Passkey {
        credential_id: made.credential_id,
        public_key: made.public_key,
        sign_count: made.sign_count,
        created_ms: now_ms,
        last_used_ms: Some(now_ms),
        name: Some("Recovered".into()),
    };
    match client::person(env, person_id, &PersonInput::AddPasskey(passkey.clone())).await? {
        PersonAnswer::Person(_) => {
            let event = passkey.event(person_id, true);
            crate::operations::record_events(env, org, vec![event]).await;
            Ok(Outcome::SignedIn {
                person_id,
                organization_id: org,
                credential_id: passkey.credential_id,
            })
        }
        PersonAnswer::TooManyPasskeys => answer(&too_many_passkeys()),
        _ => answer(&ApiError::passkey_not_added(
            "This passkey is already yours",
        )),
    }
}

/// `{email, name, organizationName}` → creation options for a self-serve sign-up. What
/// was asked rides in the challenge's ceremony, so the credential alone completes it.
pub(crate) async fn signup_options(env: &Env, body: &[u8], now_ms: u64) -> Result<Response> {
    let asked = match parse_sign_up(body) {
        Ok(asked) => asked,
        Err(e) => return http::error(&e),
    };
    let person_id =
        PersonId::generate(&crate::platform::random_bytes::<RANDOM_BYTES_FOR_PEOPLE_ID>()?);
    let email = asked.email.clone();
    let purpose = Purpose::SignUp {
        person_id,
        email: asked.email,
        name: asked.name,
        organization_name: asked.organization_name,
    };
    let Some(challenge) = challenge(env, purpose, now_ms).await? else {
        return http::error(&ApiError::service_unavailable(
            "Could not start the ceremony; retry",
        ));
    };
    let rp = config::passkey_relying_party(env);
    let options = rp.creation_options(&challenge, person_id.chars(), &email, &[]);
    http::json(200, &serde_json::json!({ "publicKey": options }))
}

/// Completes a sign-up: the passkey checked, the address's hourly count, then a new
/// organization on the default plan, its founding owner, and the person.
pub(crate) async fn signup(
    env: &Env,
    body: &[u8],
    address: Option<&str>,
    now_ms: u64,
) -> Result<Outcome> {
    let request: SignUpCredential = match parse(body) {
        Ok(r) => r,
        Err(e) => return answer(&e),
    };
    let (purpose, passkey) =
        match registered(env, &request.client_data_json, &request.attestation_object).await? {
            Ok(made) => made,
            Err(e) => return refused(e),
        };
    let Purpose::SignUp {
        person_id,
        email,
        name,
        organization_name,
    } = purpose
    else {
        return refused(WebAuthnError::WrongChallenge);
    };
    // Counted once the passkey is proven, before anything is created.
    if let Err(retry_after_s) = crate::throttle::count_sign_up(env, address).await? {
        return answer(&ApiError::too_many_sign_ups(retry_after_s));
    }
    let plan = match config::plan(env) {
        Ok(plan) => plan,
        Err(e) => return answer(&e),
    };
    let actor = Actor::Person { person_id };
    let mut created = None;
    for _ in 0..scopien_auth::keys::admin::CREATE_ATTEMPTS {
        let random = crate::platform::random_bytes::<RANDOM_BYTES_FOR_ORG>()?;
        let record = OrgRecord::new(
            OrgId::generate(&random),
            organization_name.clone(),
            plan,
            now_ms,
        );
        let input = OrgInput::Create {
            actor,
            record: record.clone(),
        };
        match client::org(env, record.id, &input).await? {
            OrgAnswer::Org(record) => {
                crate::directory::write_org(env, &record.view()).await;
                created = Some(record.id);
                break;
            }
            OrgAnswer::IdTaken => continue,
            _ => return Err(client::unexpected_answer("organization guard")),
        }
    }
    let Some(org) = created else {
        return answer(&ApiError::service_unavailable(
            "Could not allocate an organization id; retry",
        ));
    };
    let found = PeopleInput::Found {
        person_id,
        email,
        name: name.clone(),
    };
    let member = match client::people(env, org, &found).await? {
        PeopleAnswer::Member(member) => member,
        _ => return Err(client::unexpected_answer("people guard")),
    };
    joined(env, member, name, passkey, org, now_ms).await
}

/// A new member's person record, with the passkey they just made, and the events of
/// their joining; they are then signed in.
async fn joined(
    env: &Env,
    member: Member,
    name: String,
    passkey: NewPasskey,
    org: OrgId,
    now_ms: u64,
) -> Result<Outcome> {
    let person_id = member.person_id;
    let events = member.joined_events(&passkey.credential_id);
    let credential_id = passkey.credential_id.clone();
    let record = PersonRecord {
        id: person_id,
        email: member.email,
        name,
        created_ms: now_ms,
        passkeys: vec![Passkey {
            credential_id: passkey.credential_id,
            public_key: passkey.public_key,
            sign_count: passkey.sign_count,
            created_ms: now_ms,
            last_used_ms: Some(now_ms),
            name: None,
        }],
        organizations: vec![org],
    };
    match client::person(env, person_id, &PersonInput::Create(record)).await? {
        PersonAnswer::Person(_) => {
            crate::operations::record_events(env, org, events.into()).await;
            Ok(Outcome::SignedIn {
                person_id,
                organization_id: org,
                credential_id,
            })
        }
        _ => Err(client::unexpected_answer("person guard")),
    }
}

/// Request options for a sign-in with a discoverable passkey.
pub(crate) async fn signin_options(env: &Env, now_ms: u64) -> Result<Response> {
    let Some(challenge) = challenge(env, Purpose::SignIn, now_ms).await? else {
        return http::error(&ApiError::service_unavailable(
            "Could not start the ceremony; retry",
        ));
    };
    let rp = config::passkey_relying_party(env);
    http::json(
        200,
        &serde_json::json!({ "publicKey": rp.request_options(&challenge) }),
    )
}

/// Verifies a sign-in: the challenge (once), the person the user handle names, their
/// passkey, the counter, and the signature (WebCrypto). The passkey is a credential like
/// a key: it is checked through the one gate (`throttle::guarded`), so a failed passkey
/// counts against the address and a blocked address is refused before any guard is asked.
pub(crate) async fn signin(
    env: &Env,
    body: &[u8],
    address: Option<&str>,
    now_ms: u64,
) -> Result<Outcome> {
    let request: AssertionRequest = match parse(body) {
        Ok(r) => r,
        Err(e) => return answer(&e),
    };
    let (record, credential_id) = match proved_person(env, request, address, now_ms).await? {
        Ok(proved) => proved,
        Err(refusal) => return Ok(refusal),
    };
    // The first organization they still belong to (the header's menu switches).
    for org in record.organizations {
        let asked = PeopleInput::Member {
            person_id: record.id,
            signed_in: true,
        };
        if let PeopleAnswer::Member(_) = client::people(env, org, &asked).await? {
            return Ok(Outcome::SignedIn {
                person_id: record.id,
                organization_id: org,
                credential_id,
            });
        }
    }
    answer(&ApiError::passkey_refused(
        "You are no longer a member of any organization; ask an owner for an invitation",
    ))
}

/// `POST /dashboard/passkey/join` `{token, …assertion}`: a person who has a passkey here
/// and is signed out accepts an invitation with it: the same person joins (no new
/// passkey), also when they belong to no organization any more (a removed member invited
/// again). The passkey is checked as at sign-in; the link is used up as by any holder.
pub(crate) async fn join(
    env: &Env,
    body: &[u8],
    address: Option<&str>,
    now_ms: u64,
) -> Result<Outcome> {
    #[derive(serde::Deserialize)]
    struct JoinBody {
        token: String,
        #[serde(flatten)]
        assertion: AssertionRequest,
    }
    let request: JoinBody = match parse(body) {
        Ok(r) => r,
        Err(e) => return answer(&e),
    };
    let Some((org, token_hash)) = InvitationToken::parse(&request.token)
        .and_then(|token| Some((token.organization()?, token.hash_hex())))
    else {
        return answer(&ApiError::invitation_invalid());
    };
    let (record, credential_id) =
        match proved_person(env, request.assertion, address, now_ms).await? {
            Ok(proved) => proved,
            Err(refusal) => return Ok(refusal),
        };
    match accept_invitation(env, record.id, record.name, org, token_hash).await? {
        Ok(()) => Ok(Outcome::SignedIn {
            person_id: record.id,
            organization_id: org,
            credential_id,
        }),
        Err(refusal) => Ok(Outcome::Answer(refusal)),
    }
}

/// `person_id` (called `name`) accepts the invitation `token_hash` of `org`: the link is
/// used up, they are a member, the organization is on their record, and `member.joined`
/// is logged. The answer to send instead when the invitation or a limit refuses.
pub(crate) async fn accept_invitation(
    env: &Env,
    person_id: PersonId,
    name: String,
    org: OrgId,
    token_hash: String,
) -> Result<std::result::Result<(), Response>> {
    let accept = PeopleInput::Accept {
        token_hash,
        person_id,
        name,
    };
    let member = match client::people(env, org, &accept).await? {
        PeopleAnswer::Member(member) => member,
        PeopleAnswer::Full => {
            return http::error(&ApiError::conflict("This organization has 1000 members")).map(Err)
        }
        _ => return http::error(&ApiError::invitation_invalid()).map(Err),
    };
    match client::person(env, person_id, &PersonInput::Joined(org)).await? {
        PersonAnswer::Person(_) => {}
        _ => {
            return http::error(&ApiError::conflict(
                "You belong to as many organizations as one person may",
            ))
            .map(Err)
        }
    }
    let [joined, _] = member.joined_events("");
    crate::operations::record_events(env, org, vec![joined]).await;
    Ok(Ok(()))
}

/// Checks a sign-in's assertion: the challenge (once), the person the user handle
/// names, their passkey, the counter, and the signature (WebCrypto), through the one
/// gate (`throttle::guarded`). Their record and the passkey used, or the refusal.
async fn proved_person(
    env: &Env,
    request: AssertionRequest,
    address: Option<&str>,
    now_ms: u64,
) -> Result<std::result::Result<(PersonRecord, String), Outcome>> {
    let decoded = (|| {
        Ok::<_, WebAuthnError>((
            bytes(&request.client_data_json, "clientDataJSON")?,
            bytes(&request.authenticator_data, "authenticatorData")?,
            bytes(&request.signature, "signature")?,
            bytes(&request.user_handle, "userHandle")?,
        ))
    })();
    let (client_data_json, authenticator_data, signature, handle) = match decoded {
        Ok(d) => d,
        Err(e) => return refused(e).map(Err),
    };
    let (challenge, purpose) = match take(env, &client_data_json).await? {
        Ok(taken) => taken,
        Err(e) => return refused(e).map(Err),
    };
    if purpose != Purpose::SignIn {
        return refused(WebAuthnError::WrongChallenge).map(Err);
    }
    let Some(person_id) = std::str::from_utf8(&handle)
        .ok()
        .and_then(PersonId::from_chars)
    else {
        return refused(WebAuthnError::UnknownCredential).map(Err);
    };
    let assertion = Assertion {
        person_id,
        credential_id: &request.credential_id,
        client_data_json: &client_data_json,
        authenticator_data: &authenticator_data,
        signature: &signature,
        challenge: &challenge,
    };
    let gate_id = format!("passkey:{}", request.credential_id);
    let fingerprint = hash_hex(request.credential_id.as_bytes());
    let proved = crate::throttle::guarded(
        env,
        address,
        &gate_id,
        &fingerprint,
        now_ms,
        prove(env, assertion),
        |proof| match proof {
            Ok(_) => Verdict::Proved,
            Err(_) => Verdict::Failed,
        },
    )
    .await?;
    match proved {
        Ok(Ok(record)) => Ok(Ok((record, request.credential_id))),
        Ok(Err(e)) => refused(e).map(Err),
        Err(until) => answer(&ApiError::too_many_failures_until(until, now_ms)).map(Err),
    }
}

/// What a sign-in's authenticator answered, decoded.
struct Assertion<'a> {
    person_id: PersonId,
    credential_id: &'a str,
    client_data_json: &'a [u8],
    authenticator_data: &'a [u8],
    signature: &'a [u8],
    challenge: &'a [u8],
}

/// The credential check of a sign-in: the person, their passkey, the assertion, the
/// signature, and the counter stored. The person's record, or why not.
async fn prove(
    env: &Env,
    a: Assertion<'_>,
) -> Result<std::result::Result<PersonRecord, WebAuthnError>> {
    let record = match client::person(env, a.person_id, &PersonInput::Get).await? {
        PersonAnswer::Person(record) => record,
        _ => return Ok(Err(WebAuthnError::UnknownCredential)),
    };
    let Some(passkey) = record
        .passkeys
        .iter()
        .find(|p| p.credential_id == a.credential_id)
    else {
        return Ok(Err(WebAuthnError::UnknownCredential));
    };
    let rp = config::passkey_relying_party(env);
    let check = match rp.verify_assertion(
        a.client_data_json,
        a.authenticator_data,
        a.signature,
        a.challenge,
        &passkey.public_key,
        passkey.sign_count,
    ) {
        Ok(check) => check,
        Err(e) => return Ok(Err(e)),
    };
    if !verify_signature(&passkey.public_key, &check.signed_data, &check.signature).await? {
        return Ok(Err(WebAuthnError::BadSignature));
    }
    let used = PersonInput::Used {
        credential_id: a.credential_id.to_owned(),
        sign_count: check.sign_count,
    };
    Ok(match client::person(env, a.person_id, &used).await? {
        PersonAnswer::Person(record) => Ok(record),
        _ => Err(WebAuthnError::CounterRegressed),
    })
}

/// Verifies `signature` over `data` with the passkey's key, with WebCrypto: ECDSA P-256
/// SHA-256 (raw `r‖s`), Ed25519, or RSASSA-PKCS1-v1_5 SHA-256. A key WebCrypto will not
/// import verifies nothing.
async fn verify_signature(key: &PublicKey, data: &[u8], signature: &[u8]) -> Result<bool> {
    let (format, material, import, verify): (&str, JsValue, _, _) = match key {
        PublicKey::Es256(key) => {
            let Some(point) = key.sec1() else {
                return Ok(false);
            };
            (
                "raw",
                Uint8Array::from(point.as_slice()).into(),
                algorithm(&[("name", "ECDSA"), ("namedCurve", "P-256")])?,
                algorithm(&[("name", "ECDSA"), ("hash", "SHA-256")])?,
            )
        }
        PublicKey::EdDsa(key) => {
            let Some(raw) = base64url_decode(&key.ed25519) else {
                return Ok(false);
            };
            (
                "raw",
                Uint8Array::from(raw.as_slice()).into(),
                algorithm(&[("name", "Ed25519")])?,
                algorithm(&[("name", "Ed25519")])?,
            )
        }
        PublicKey::Rs256(key) => (
            "jwk",
            algorithm(&[("kty", "RSA"), ("n", &key.n), ("e", &key.e)])?,
            algorithm(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")])?,
            algorithm(&[("name", "RSASSA-PKCS1-v1_5")])?,
        ),
    };
    let usages: Array = std::iter::once(JsValue::from("verify")).collect();
    let Ok(key) = webcrypto::call(
        "importKey",
        &[format.into(), material, import, false.into(), usages.into()],
    )
    .await
    else {
        return Ok(false);
    };
    let ok = webcrypto::call(
        "verify",
        &[
            verify,
            key,
            Uint8Array::from(signature).into(),
            Uint8Array::from(data).into(),
        ],
    )
    .await?;
    Ok(ok.as_bool() == Some(true))
}

// A signed-in person's own passkeys (`dashboard.rs` checked the session, its CSRF token
// and the membership first):
//
//  GET    /dashboard/api/passkeys            → {data: [{credentialId, name, createdAt, lastUsedAt}]}
//  POST   /dashboard/api/passkeys/options    → creation options (excludeCredentials: theirs)
//  POST   /dashboard/api/passkeys            {clientDataJSON, attestationObject, name?} → 201
//  PATCH  /dashboard/api/passkeys/{id}       {name} → 200
//  DELETE /dashboard/api/passkeys/{id}       → 204; never the last (409)

fn not_found_passkey() -> ApiError {
    ApiError::not_found("You have no passkey with that id")
}

/// The person's record, or the answer when they are gone.
async fn person_record(
    env: &Env,
    person_id: PersonId,
) -> Result<std::result::Result<PersonRecord, Response>> {
    match client::person(env, person_id, &PersonInput::Get).await? {
        PersonAnswer::Person(record) => Ok(Ok(record)),
        _ => Ok(Err(http::error(&ApiError::no_session())?)),
    }
}

/// The person's passkeys; `current` marks the one this session was signed in with.
pub(crate) async fn list_own(
    env: &Env,
    person_id: PersonId,
    current: Option<&str>,
) -> Result<Response> {
    let record = match person_record(env, person_id).await? {
        Ok(record) => record,
        Err(response) => return Ok(response),
    };
    let data = record
        .passkeys
        .iter()
        .map(|p| PasskeyView {
            current: current == Some(p.credential_id.as_str()),
            ..p.view()
        })
        .collect();
    http::json(200, &PasskeyList { data })
}

/// Creation options for another passkey of theirs: the same user handle, and their
/// passkeys excluded (an authenticator that holds one does not make a second).
pub(crate) async fn add_options(env: &Env, person_id: PersonId, now_ms: u64) -> Result<Response> {
    let record = match person_record(env, person_id).await? {
        Ok(record) => record,
        Err(response) => return Ok(response),
    };
    if record.passkeys.len() >= MAX_PASSKEYS {
        return http::error(&too_many_passkeys());
    }
    let Some(challenge) = challenge(env, Purpose::AddPasskey { person_id }, now_ms).await? else {
        return http::error(&ApiError::service_unavailable(
            "Could not start the ceremony; retry",
        ));
    };
    let exclude: Vec<String> = record
        .passkeys
        .iter()
        .map(|p| p.credential_id.clone())
        .collect();
    let rp = config::passkey_relying_party(env);
    let options = rp.creation_options(&challenge, person_id.chars(), &record.email, &exclude);
    http::json(200, &serde_json::json!({ "publicKey": options }))
}

fn too_many_passkeys() -> ApiError {
    ApiError::conflict(format!(
        "You have {MAX_PASSKEYS} passkeys, the most one person may; remove one first"
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddPasskeyRequest {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    #[serde(rename = "attestationObject")]
    attestation_object: String,
    #[serde(default)]
    name: Option<String>,
}

/// Verifies a new passkey of the signed-in person and adds it (`passkey.added`).
pub(crate) async fn add_own(
    env: &Env,
    person_id: PersonId,
    org: OrgId,
    body: &[u8],
    now_ms: u64,
) -> Result<Response> {
    let request: AddPasskeyRequest = match parse(body) {
        Ok(r) => r,
        Err(e) => return http::error(&e),
    };
    let name = match request
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        None => None,
        Some(name) => {
            let body = serde_json::json!({ "name": name }).to_string();
            match parse_passkey_name(body.as_bytes()) {
                Ok(name) => Some(name),
                Err(e) => return http::error(&e),
            }
        }
    };
    let not_added = |e: WebAuthnError| http::error(&ApiError::passkey_not_added(e.message()));
    let made = match registered(env, &request.client_data_json, &request.attestation_object).await?
    {
        Ok((
            Purpose::AddPasskey {
                person_id: for_whom,
            },
            made,
        )) if for_whom == person_id => made,
        Ok(_) => return not_added(WebAuthnError::WrongChallenge),
        Err(e) => return not_added(e),
    };
    let passkey = Passkey {
        credential_id: made.credential_id,
        public_key: made.public_key,
        sign_count: made.sign_count,
        created_ms: now_ms,
        last_used_ms: None,
        name,
    };
    match client::person(env, person_id, &PersonInput::AddPasskey(passkey.clone())).await? {
        PersonAnswer::Person(_) => {
            let event = passkey.event(person_id, true);
            crate::operations::record_events(env, org, vec![event]).await;
            http::json(201, &passkey.view())
        }
        PersonAnswer::TooManyPasskeys => http::error(&too_many_passkeys()),
        PersonAnswer::Refused => http::error(&ApiError::passkey_not_added(
            "You already have this passkey",
        )),
        _ => Err(client::unexpected_answer("person guard")),
    }
}

/// Names one of their passkeys.
pub(crate) async fn rename_own(
    env: &Env,
    person_id: PersonId,
    credential_id: &str,
    body: &[u8],
) -> Result<Response> {
    let name = match parse_passkey_name(body) {
        Ok(name) => name,
        Err(e) => return http::error(&e),
    };
    let input = PersonInput::RenamePasskey {
        credential_id: credential_id.to_owned(),
        name,
    };
    match client::person(env, person_id, &input).await? {
        PersonAnswer::Person(record) => match record
            .passkeys
            .iter()
            .find(|p| p.credential_id == credential_id)
        {
            Some(passkey) => http::json(200, &passkey.view()),
            None => http::error(&not_found_passkey()),
        },
        _ => http::error(&not_found_passkey()),
    }
}

/// Removes one of their passkeys, never the last (`passkey.removed`).
pub(crate) async fn remove_own(
    env: &Env,
    person_id: PersonId,
    org: OrgId,
    credential_id: &str,
) -> Result<Response> {
    let input = PersonInput::RemovePasskey {
        credential_id: credential_id.to_owned(),
    };
    match client::person(env, person_id, &input).await? {
        PersonAnswer::Removed { passkey, .. } => {
            crate::operations::record_events(env, org, vec![passkey.event(person_id, false)]).await;
            Ok(Response::empty()?.with_status(204))
        }
        PersonAnswer::LastPasskey => http::error(&ApiError::last_passkey()),
        _ => http::error(&not_found_passkey()),
    }
}
