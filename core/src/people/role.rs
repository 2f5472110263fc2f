//! Roles in an organization and what each may do: one function, [`Role::may`], that the
//! API enforces (403) and the dashboard reads (it does not offer what the role may not).

use crate::base::method::Method;
use crate::http::route::Route;
use crate::policy::scope::{Grants, Scope};
use serde::{Deserialize, Serialize};

/// A member's role in one organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything an admin may, plus members and the organization's settings.
    Owner,
    /// All keys (admin keys included), OAuth apps, authorized apps, the audit log.
    Admin,
    /// Test keys, and live keys without `admin`; reads like a viewer.
    Developer,
    /// Reads keys, usage and the audit log; changes nothing.
    Viewer,
}

/// What a signed-in person asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// List or read keys and their usage.
    ReadKeys,
    /// Create, change, roll or revoke a key (what the key may hold is bounded by
    /// [`Role::grants`]: the key API never lets a caller give more than it holds).
    WriteKeys,
    /// Read the organization, its OAuth apps and authorized apps.
    ReadOrganization,
    /// Register, change or delete OAuth apps; revoke authorized apps.
    WriteApps,
    /// Read the audit log.
    ReadAudit,
    /// Invite, change or remove members.
    ManageMembers,
    /// Change the organization's settings (its name).
    ChangeOrganization,
    /// Create, read, change and delete webhook endpoints, and read their deliveries.
    ManageWebhooks,
}

impl Operation {
    /// Every operation, in the order the dashboard lists them.
    pub const ALL: [Operation; 8] = [
        Operation::ReadKeys,
        Operation::WriteKeys,
        Operation::ReadOrganization,
        Operation::WriteApps,
        Operation::ReadAudit,
        Operation::ManageMembers,
        Operation::ChangeOrganization,
        Operation::ManageWebhooks,
    ];

    /// The name the dashboard's session view gives it (`permissions`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ReadKeys => "keys.read",
            Operation::WriteKeys => "keys.write",
            Operation::ReadOrganization => "organization.read",
            Operation::WriteApps => "apps.write",
            Operation::ReadAudit => "audit.read",
            Operation::ManageMembers => "members.manage",
            Operation::ChangeOrganization => "organization.change",
            Operation::ManageWebhooks => "webhooks.manage",
        }
    }

    /// What a management API call is, for [`Role::may`]; `None` for what no person may
    /// call through the dashboard (the organizations' list, the auth test, the origin).
    pub fn of(route: &Route<'_>, method: &Method) -> Option<Operation> {
        let reads = matches!(method, Method::Get | Method::Head);
        Some(match route {
            Route::Keys | Route::Key(_) | Route::RollKey(_) | Route::KeyUsage(_) if reads => {
                Operation::ReadKeys
            }
            Route::Keys | Route::Key(_) | Route::RollKey(_) | Route::KeyUsage(_) => {
                Operation::WriteKeys
            }
            Route::Org(_) if reads => Operation::ReadOrganization,
            Route::Org(_) => Operation::ChangeOrganization,
            Route::AuditLog => Operation::ReadAudit,
            Route::Invitations(_)
            | Route::Invitation(..)
            | Route::Members(_)
            | Route::Member(..)
            | Route::MemberRecovery(..) => Operation::ManageMembers,
            Route::OAuthClients
            | Route::OAuthClient(_)
            | Route::OAuthAuthorizations
            | Route::OAuthAuthorization(_)
                if reads =>
            {
                Operation::ReadOrganization
            }
            Route::OAuthClients
            | Route::OAuthClient(_)
            | Route::OAuthAuthorizations
            | Route::OAuthAuthorization(_) => Operation::WriteApps,
            // Webhooks send the organization's events elsewhere and hold signing
            // secrets: reading them too is for who may manage them (owners, admins).
            Route::Webhooks
            | Route::Webhook(_)
            | Route::WebhookSecret(_)
            | Route::WebhookDeliveries(_) => Operation::ManageWebhooks,
            Route::Orgs | Route::AuthTest | Route::Verify | Route::Upstream { .. } => return None,
        })
    }
}

impl Role {
    /// Parses `owner`, `admin`, `developer` or `viewer`.
    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "developer" => Role::Developer,
            "viewer" => Role::Viewer,
            _ => return None,
        })
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    /// Whether a member with this role may do `operation`.
    pub fn may(self, operation: Operation) -> bool {
        use Operation::*;
        match self {
            Role::Owner => true,
            Role::Admin => !matches!(operation, ChangeOrganization),
            Role::Developer => matches!(
                operation,
                ReadKeys | WriteKeys | ReadOrganization | ReadAudit
            ),
            Role::Viewer => matches!(operation, ReadKeys | ReadOrganization | ReadAudit),
        }
    }

    /// Whether this role may invite someone as `other`, or change a member to or from
    /// it: an owner any role, an admin the roles below owner, nobody else.
    pub fn may_assign(self, other: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => other != Role::Owner,
            Role::Developer | Role::Viewer => false,
        }
    }

    /// What a member's dashboard calls hold, as a key's grants: the key API bounds by
    /// them what a key created by the member may hold (a developer's never `admin`).
    /// Reaching the API at all is decided by [`Role::may`].
    pub fn grants(self) -> Grants {
        let scopes: &[Scope] = match self {
            Role::Owner | Role::Admin => &Scope::ALL,
            Role::Developer => &[Scope::Read, Scope::Write, Scope::Delete],
            Role::Viewer => &[Scope::Read],
        };
        Grants::Everywhere(scopes.iter().copied().collect())
    }

    /// What a member with this role may give an OAuth app when they approve it (and what
    /// the grant keeps holding while they are a member): their own bound without
    /// `admin`, which apps never hold. A viewer gives `read` only. The one place this is
    /// decided, at consent and at every change of the member's role.
    pub fn app_grants(self) -> Grants {
        let scopes: &[Scope] = match self {
            Role::Owner | Role::Admin | Role::Developer => {
                &[Scope::Read, Scope::Write, Scope::Delete]
            }
            Role::Viewer => &[Scope::Read],
        };
        Grants::Everywhere(scopes.iter().copied().collect())
    }

    /// The names of every operation this role may do (the dashboard's `permissions`).
    pub fn permissions(self) -> Vec<&'static str> {
        Operation::ALL
            .into_iter()
            .filter(|op| self.may(*op))
            .map(Operation::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{KeyId, OrgId};

    #[test]
    fn apps_get_a_members_bound_and_never_admin() {
        for role in [Role::Owner, Role::Admin, Role::Developer, Role::Viewer] {
            let given = role.app_grants();
            assert!(role.grants().covers(&given).is_ok(), "{role:?}");
            assert!(!given.scope_string().contains("admin"), "{role:?}");
        }
        assert_eq!(
            Role::Viewer.app_grants(),
            Grants::Everywhere([Scope::Read].into_iter().collect())
        );
        assert_eq!(
            Role::Developer.app_grants().scope_string(),
            "read write delete"
        );
    }

    #[test]
    fn each_role_may_what_the_issue_says() {
        use Operation::*;
        for op in Operation::ALL {
            assert!(Role::Owner.may(op), "{op:?}");
        }
        assert!(!Role::Admin.may(ChangeOrganization));
        assert!(Role::Admin.may(ManageMembers) && Role::Admin.may(WriteApps));
        assert!(Role::Developer.may(WriteKeys) && Role::Developer.may(ReadAudit));
        assert!(!Role::Developer.may(WriteApps) && !Role::Developer.may(ManageMembers));
        assert!(Role::Viewer.may(ReadKeys) && Role::Viewer.may(ReadAudit));
        for op in [WriteKeys, WriteApps, ManageMembers, ChangeOrganization] {
            assert!(!Role::Viewer.may(op), "{op:?}");
        }
    }

    #[test]
    fn a_developer_holds_no_admin_and_a_viewer_only_read() {
        assert_eq!(Role::Admin.grants(), Grants::root());
        let dev = Role::Developer.grants();
        assert!(dev
            .covers(&Grants::Everywhere(
                [Scope::Read, Scope::Write].into_iter().collect()
            ))
            .is_ok());
        assert!(dev
            .covers(&Grants::Everywhere([Scope::Admin].into_iter().collect()))
            .is_err());
        assert!(Role::Viewer
            .grants()
            .covers(&Grants::Everywhere([Scope::Write].into_iter().collect()))
            .is_err());
    }

    #[test]
    fn owners_assign_any_role_admins_below_owner() {
        assert!(Role::Owner.may_assign(Role::Owner));
        assert!(!Role::Admin.may_assign(Role::Owner));
        assert!(Role::Admin.may_assign(Role::Developer));
        assert!(!Role::Developer.may_assign(Role::Viewer));
    }

    #[test]
    fn routes_map_to_operations() {
        let key = KeyId::parse("key_0123456789abcdef").expect("id");
        let org = OrgId::parse("org_0123456789abcdef").expect("id");
        let of = |r: Route<'_>, m: Method| Operation::of(&r, &m);
        assert_eq!(of(Route::Keys, Method::Get), Some(Operation::ReadKeys));
        assert_eq!(of(Route::Keys, Method::Post), Some(Operation::WriteKeys));
        assert_eq!(
            of(Route::RollKey(key), Method::Post),
            Some(Operation::WriteKeys)
        );
        assert_eq!(
            of(Route::Org(org), Method::Patch),
            Some(Operation::ChangeOrganization)
        );
        assert_eq!(
            of(Route::OAuthClients, Method::Post),
            Some(Operation::WriteApps)
        );
        assert_eq!(of(Route::Orgs, Method::Get), None);
        assert_eq!(
            of(Route::Webhooks, Method::Get),
            Some(Operation::ManageWebhooks)
        );
        assert!(Role::Admin.may(Operation::ManageWebhooks));
        assert!(!Role::Developer.may(Operation::ManageWebhooks));
        assert_eq!(Role::parse("viewer").map(Role::as_str), Some("viewer"));
        assert_eq!(Role::parse("root"), None);
        assert_eq!(
            Role::Viewer.permissions(),
            ["keys.read", "organization.read", "audit.read"]
        );
    }
}
