//! The OAuth pages a person sees: the consent page (the app, the organization, each
//! scope, Approve and Deny) and the error page shown instead of redirecting to a URI that
//! cannot be trusted. Server-rendered HTML with every value escaped, no script, and a
//! policy that lets the form go only here and to the app's registered redirect URI.

use crate::oauth::protocol::{redirect_to, scope_lines, AuthorizeRequest, Params};
use crate::policy::scope::Grants;
use crate::policy::scope::MissingScope;

/// Escapes text for HTML content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `scheme://authority` of an absolute URI.
pub fn origin_of(uri: &str) -> &str {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    let end = uri[after_scheme..]
        .find(['/', '?'])
        .map_or(uri.len(), |i| after_scheme + i);
    &uri[..end]
}

/// The security headers of an OAuth page; `redirect_origin` is where its form may send
/// the browser on (the app), besides here.
pub fn page_headers(redirect_origin: Option<&str>) -> Vec<(&'static str, String)> {
    let form_action = match redirect_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    vec![
        (
            "Content-Security-Policy",
            format!(
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
            ),
        ),
        ("X-Frame-Options", "DENY".into()),
        ("Referrer-Policy", "no-referrer".into()),
        ("X-Content-Type-Options", "nosniff".into()),
        ("Cache-Control", "no-store".into()),
        ("Content-Type", "text/html; charset=utf-8".into()),
    ]
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Scopien Gate</title>
<link rel="stylesheet" href="/dashboard/static/style.css">
</head>
<body class="signin consent">
<main id="main">
{body}
</main>
</body>
</html>
"#,
        title = escape(title)
    )
}

/// The dashboard's sign-in, then `back` (a path on this site).
pub fn sign_in_then(back: &str) -> String {
    format!("/dashboard/signin?next={}", crate::base::form::encode(back))
}

/// The authorization request's parameters, as the consent form carries them.
const AUTHORIZE_PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// Where the consent page's "Not you? Sign out" leads once the session has ended: the
/// sign-in, then the same authorization request, for whoever signs in next.
pub fn switch_account(form: &Params) -> String {
    let pairs: Vec<(&str, &str)> = AUTHORIZE_PARAMS
        .iter()
        .filter_map(|name| form.get(name).map(|value| (*name, value)))
        .collect();
    sign_in_then(&redirect_to("/oauth/authorize", &pairs))
}

/// The page for a request that cannot be answered to the app.
pub fn error_page(message: &str) -> String {
    page(
        "Authorization failed",
        &format!(
            "<h1>This app's request cannot be completed</h1>\n<p class=\"error\" role=\"alert\" id=\"oauth-error\">{}</p>\n<p>Nothing was sent to the app. Go back to it and try again, or tell its developer.</p>",
            escape(message)
        ),
    )
}

/// The page for an address refused for failed authentications (the dashboard's and
/// `/oauth/authorize`'s 429), `retry_after_s` from now.
pub fn too_many_failures_page(retry_after_s: u64) -> String {
    let details = crate::ApiError::too_many_failures(retry_after_s).details;
    page(
        "Too many attempts",
        &format!(
            "<h1>Too many failed authentication attempts</h1>\n<p class=\"error\" role=\"alert\">{}</p>",
            escape(&details)
        ),
    )
}

/// What the consent page shows.
pub struct Consent<'a> {
    /// The validated request.
    pub request: &'a AuthorizeRequest,
    /// The app's name.
    pub app_name: &'a str,
    /// The organization's name.
    pub org_name: &'a str,
    /// The organization's id.
    pub org_id: String,
    /// Who is signed in: the key's id, or the person's email.
    pub key_id: String,
    /// The approving person, which their role bounds; `None` for a key.
    pub person: Option<PersonApproving>,
    /// The session's CSRF token.
    pub csrf_token: &'a str,
    /// What the signed-in key lacks of the request (then only Deny is offered).
    pub missing: Option<MissingScope>,
}

/// A person approving, as the page words it (the worker reads it off their role: the
/// people domain sits beside this one, not below it).
pub struct PersonApproving {
    /// Their role's name: "viewer".
    pub role: &'static str,
    /// What their role may give an app.
    pub may_give: Grants,
    /// Whether their role may revoke grants under Authorized apps.
    pub may_revoke: bool,
}

/// "a viewer", "an admin": a role with its article.
fn a_role(name: &str) -> String {
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

/// The consent page: the app, the organization, each scope, Approve and Deny.
pub fn consent_page(consent: &Consent<'_>) -> String {
    let request = consent.request;
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        )
    };
    let mut fields = vec![
        hidden("response_type", "code"),
        hidden("client_id", &request.client_id.to_string()),
        hidden("scope", &request.scopes.scope_string()),
        hidden("code_challenge", &request.code_challenge),
        hidden("code_challenge_method", "S256"),
        hidden("csrf_token", consent.csrf_token),
    ];
    if request.redirect_uri_sent {
        fields.push(hidden("redirect_uri", &request.redirect_uri));
    }
    if let Some(state) = &request.state {
        fields.push(hidden("state", state));
    }
    let scopes: String = scope_lines(&request.scopes)
        .iter()
        .map(|(scope, resource)| {
            format!(
                "<li><code>{}</code> on {}</li>",
                escape(scope),
                escape(resource)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (warning, approve) = match &consent.missing {
        Some(missing) => {
            let why = match &consent.person {
                Some(person) => format!(
                    "as {} you may approve {} only. Ask a member whose role allows it, or deny",
                    a_role(person.role),
                    person
                        .may_give
                        .scope_string()
                        .split(' ')
                        .map(|scope| format!("'{scope}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => "sign in with a key that holds it, or deny".to_owned(),
            };
            (
                format!(
                    "<p class=\"error\" role=\"alert\" id=\"cannot-grant\">Your {} cannot grant '{}' on {}: {}.</p>",
                    if consent.person.is_some() { "role" } else { "key" },
                    escape(missing.scope.as_str()),
                    escape(&missing.resource),
                    escape(&why),
                ),
                String::new(),
            )
        }
        None => (
            String::new(),
            "<button type=\"submit\" name=\"decision\" value=\"approve\" class=\"primary\" id=\"approve\">Approve</button>".to_owned(),
        ),
    };
    let org = escape(consent.org_name);
    // Who is signed in, and what bounds the grant: a key by its id; a person by their
    // email, with what their approval means (bounded by their role, for as long as they
    // are a member) and who can revoke it (Authorized apps is for owners and admins).
    let (who, terms) = match &consent.person {
        None => (
            format!("<code>{}</code>", escape(&consent.key_id)),
            "You can revoke it in the dashboard under Authorized apps.".to_owned(),
        ),
        Some(person) => (
            escape(&consent.key_id),
            format!(
                "The app can never do more than your role allows, and its access ends if you leave {org}. {}",
                if person.may_revoke {
                    "You can revoke it in the dashboard under Authorized apps.".to_owned()
                } else {
                    format!("An owner or admin of {org} can revoke it under Authorized apps.")
                }
            ),
        ),
    };
    let body = format!(
        r#"<h1>Authorize {app}</h1>
<p class="lead"><strong id="app-name">{app}</strong> asks to act for <strong id="org-name">{org}</strong> (<code>{org_id}</code>) with these permissions:</p>
<ul id="scopes">
{scopes}
</ul>
<p class="hint" id="signed-in">Signed in with {who}. <button type="submit" form="consent" name="decision" value="switch" class="link" id="switch-account">Not you? Sign out</button></p>
<p class="hint" id="answer-to">Your answer is sent back to <code id="redirect-uri">{redirect}</code>.</p>
<p class="hint" id="terms">{terms}</p>
{warning}
<form method="post" action="/oauth/authorize" id="consent">
{fields}
<div class="actions">{approve}
<button type="submit" name="decision" value="deny" id="deny">Deny</button></div>
</form>"#,
        app = escape(consent.app_name),
        org_id = escape(&consent.org_id),
        redirect = escape(&request.redirect_uri),
        fields = fields.join("\n"),
    );
    page(&format!("Authorize {}", consent.app_name), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrgId;
    use crate::oauth::protocol::{parse_scope, ClientId, RANDOM_BYTES_FOR_CLIENT_ID};
    use crate::people::role::{Operation, Role};

    #[test]
    fn switching_account_signs_in_again_to_the_same_request_only() {
        let pairs = [
            ("response_type", "code"),
            ("client_id", "cli_x"),
            ("redirect_uri", "https://a.example/cb?x=1&y=2"),
            ("scope", "opportunities:read write"),
            ("state", "s&t=u"),
            ("code_challenge", "c"),
            ("code_challenge_method", "S256"),
            ("csrf_token", "secret"),
            ("decision", "switch"),
        ];
        let form = Params::from_pairs(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .expect("no repeats");
        let location = switch_account(&form);
        let next = location
            .strip_prefix("/dashboard/signin?next=")
            .expect("the sign-in first");
        let back = crate::base::form::decode(next).expect("encoded");
        let query = back
            .strip_prefix("/oauth/authorize?")
            .expect("then authorize");
        let got = crate::base::form::pairs(query.as_bytes()).expect("form pairs");
        let expected: Vec<(String, String)> = pairs[..7]
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(got, expected, "the request as sent, and nothing else");
        assert!(!location.contains("secret"), "never the CSRF token");
    }

    #[test]
    fn everything_shown_is_escaped() {
        let request = AuthorizeRequest {
            client_id: ClientId::generate(OrgId::DEFAULT, &[1; RANDOM_BYTES_FOR_CLIENT_ID]),
            redirect_uri: "https://a.example/cb?x=\"><script>".into(),
            redirect_uri_sent: true,
            scopes: parse_scope("opportunities:read").expect("scope"),
            state: Some("\"><img src=x onerror=alert(1)>".into()),
            code_challenge: "c".repeat(43),
        };
        let html = consent_page(&Consent {
            request: &request,
            app_name: "<b>Evil</b>",
            org_name: "Acme & Co",
            org_id: "org_x".into(),
            key_id: "key_y".into(),
            person: None,
            csrf_token: "t",
            missing: None,
        });
        assert!(!html.contains("<b>Evil</b>"));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;b&gt;Evil&lt;/b&gt;"));
        assert!(html.contains("Acme &amp; Co"));
        assert!(html.contains("<code>read</code> on opportunities"));
        assert!(html.contains("id=\"approve\""));
    }

    /// A request for `scope` with no state and the app's only redirect URI.
    fn plain_request(scope: &str) -> AuthorizeRequest {
        AuthorizeRequest {
            client_id: ClientId::generate(OrgId::DEFAULT, &[1; RANDOM_BYTES_FOR_CLIENT_ID]),
            redirect_uri: "https://a.example/cb".into(),
            redirect_uri_sent: false,
            scopes: parse_scope(scope).expect("scope"),
            state: None,
            code_challenge: "c".repeat(43),
        }
    }

    #[test]
    fn a_key_that_cannot_grant_gets_no_approve_button() {
        let request = plain_request("delete");
        let html = consent_page(&Consent {
            request: &request,
            app_name: "App",
            org_name: "Org",
            org_id: "org_x".into(),
            key_id: "key_y".into(),
            person: None,
            csrf_token: "t",
            missing: Some(MissingScope {
                scope: crate::policy::scope::Scope::Delete,
                resource: "every resource".into(),
            }),
        });
        assert!(!html.contains("id=\"approve\""));
        assert!(html.contains("cannot grant 'delete'"));
    }

    #[test]
    fn a_person_sees_their_role_bound_and_who_can_revoke() {
        let request = plain_request("read write");
        let page = |role: Role, missing: Option<MissingScope>| {
            let person = PersonApproving {
                role: role.as_str(),
                may_give: role.app_grants(),
                may_revoke: role.may(Operation::WriteApps),
            };
            consent_page(&Consent {
                request: &request,
                app_name: "App",
                org_name: "Acme",
                org_id: "org_x".into(),
                key_id: "ada@example.com".into(),
                person: Some(person),
                csrf_token: "t",
                missing,
            })
        };
        let viewer = page(
            Role::Viewer,
            Some(MissingScope {
                scope: crate::policy::scope::Scope::Write,
                resource: "every resource".into(),
            }),
        );
        assert!(viewer.contains("Signed in with ada@example.com."));
        assert!(viewer.contains(
            "Your role cannot grant 'write' on every resource: as a viewer you may approve &#39;read&#39; only."
        ));
        assert!(!viewer.contains("id=\"approve\""));
        assert!(viewer.contains("An owner or admin of Acme can revoke it"));
        let admin = page(Role::Admin, None);
        assert!(admin.contains("id=\"approve\""));
        assert!(admin.contains("You can revoke it in the dashboard under Authorized apps."));
        assert!(admin.contains("its access ends if you leave Acme"));
    }

    #[test]
    fn origins_and_form_targets() {
        assert_eq!(
            origin_of("https://a.example:8443/cb?x=1"),
            "https://a.example:8443"
        );
        assert_eq!(origin_of("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
        let csp = &page_headers(Some("https://a.example"))[0].1;
        assert!(csp.contains("form-action 'self' https://a.example;"));
    }
}
