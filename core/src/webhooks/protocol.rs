//! What the API and the delivery consumer ask an organization's guard about its
//! webhooks, and what it answers (`OrgInput::Webhooks`, `OrgAnswer::Webhooks`).

use crate::audit::{AuditDraft, AuditTarget};
use crate::ids::{Actor, MessageId, WebhookId};
use crate::keys::admin::ListQuery;
use crate::keys::view::ListPage;
use crate::policy::error::ApiError;
use crate::webhooks::delivery::DeliveryView;
use crate::webhooks::endpoint::{CreatedEndpoint, EndpointPatch, EndpointRecord, EndpointView};
use serde::{Deserialize, Serialize};

/// A question about the organization's webhooks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WebhookInput {
    /// Store a new endpoint (at most [`crate::webhooks::endpoint::MAX_ENDPOINTS`]).
    Create {
        /// The endpoint.
        record: EndpointRecord,
        /// Who, for the audit log.
        actor: Actor,
    },
    /// A page of endpoints, by id.
    List(ListQuery),
    /// One endpoint.
    Get(WebhookId),
    /// Change one.
    Patch {
        /// Which.
        id: WebhookId,
        /// The change.
        patch: EndpointPatch,
        /// Who, for the audit log.
        actor: Actor,
    },
    /// Delete one, with its messages.
    Delete {
        /// Which.
        id: WebhookId,
        /// Who, for the audit log.
        actor: Actor,
    },
    /// Give one a new secret (made by the worker); the old one signs beside it for a day.
    Rotate {
        /// Which.
        id: WebhookId,
        /// The new secret.
        secret: String,
        /// Who, for the audit log.
        actor: Actor,
    },
    /// A page of one endpoint's messages, newest first.
    Deliveries {
        /// Which endpoint.
        id: WebhookId,
        /// Page size and cursor.
        query: ListQuery,
    },
    /// An event decided elsewhere (a key's guard: `rate_limit.exceeded`), recorded in
    /// the outbox of its organization.
    Notify {
        /// The organization.
        organization: crate::ids::OrgId,
        /// What happened.
        event: crate::webhooks::event::EventType,
        /// About what.
        data: serde_json::Value,
    },
    /// The consumer takes a message the queue handed it: what to send.
    Take(MessageId),
    /// The consumer made attempt `attempt` of a message: its answer.
    Attempted {
        /// Which message.
        id: MessageId,
        /// Which attempt.
        attempt: u32,
        /// The endpoint's status code (`None`: no answer in time, or no connection).
        status_code: Option<u16>,
    },
}

/// One attempt to make: everything the consumer needs to sign and post a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The message's id (`webhook-id`).
    pub id: MessageId,
    /// Which attempt this is.
    pub attempt: u32,
    /// Where to post.
    pub url: String,
    /// The secrets that sign now (two during a rotation's overlap).
    pub secrets: Vec<String>,
    /// The body, as recorded with the change.
    pub payload: String,
}

/// A queue message: the organization's guard that holds the message, and which. The
/// guard's alarm sends it; the consumer asks that guard ([`WebhookInput::Take`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handed {
    /// The organization.
    pub org: crate::ids::OrgId,
    /// The message.
    pub id: MessageId,
}

/// The guard's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WebhookAnswer {
    /// An endpoint with its secret (created, rotated).
    Created(CreatedEndpoint),
    /// An endpoint.
    Endpoint(EndpointView),
    /// A page of endpoints.
    Endpoints(ListPage<EndpointView>),
    /// A page of messages.
    Deliveries(ListPage<DeliveryView>),
    /// A message to send.
    Send(Attempt),
    /// Done (deleted; an attempt recorded; a message with nothing left to send).
    Done,
    /// No such endpoint (or message).
    NotFound,
    /// Refused: the organization has its maximum of endpoints.
    TooMany,
    /// The new id is taken: generate another.
    IdTaken,
    /// The cursor is not one this listing gave out.
    BadCursor,
}

/// The audit event of a change to an endpoint (`webhook.created`, `webhook.updated`,
/// `webhook.deleted`, `webhook.secret_rotated`): its views, never its secret.
pub fn audit_event(
    action: &str,
    id: WebhookId,
    actor: Actor,
    changes: Option<serde_json::Map<String, serde_json::Value>>,
) -> AuditDraft {
    AuditDraft {
        actor,
        action: action.into(),
        target: AuditTarget::webhook(id),
        changes,
        report: None,
        reason: None,
    }
}

/// 404 for an endpoint that is not the caller's organization's, or not there.
pub fn not_found() -> ApiError {
    ApiError::not_found("No webhook with that id")
}

/// The cursor of an endpoints page: the id it ended with.
pub fn endpoint_cursor(query: &ListQuery) -> Option<Result<WebhookId, ()>> {
    query
        .cursor
        .as_deref()
        .map(|c| WebhookId::parse(c).ok_or(()))
}

/// The cursor of a deliveries page: the position it ended with.
pub fn delivery_cursor(query: &ListQuery) -> Option<Result<u64, ()>> {
    query
        .cursor
        .as_deref()
        .map(|c| c.parse::<u64>().map_err(|_| ()))
}
