//! The OAuth credential formats, split like keys: `sat_` (access), `srt_` (refresh) and
//! `sac_` (code) + the 16-char grant id that names the grant's Durable Object + a 32-char
//! secret + a 6-char CRC-32 checksum; and the `scs_` client secret. Only their SHA-256 is
//! stored; what a grant lets them do is [`crate::oauth::grant`].

use crate::base::base62;
use crate::base::constant_time;
use crate::credentials::key::{hash_hex, CHECKSUM_LEN, SECRET_LEN};
use crate::ids::{GrantId, ID_LEN};
use core::fmt;
use serde::{Deserialize, Serialize};

/// Length of a token: 4-char prefix + id + secret + checksum.
pub const TOKEN_LEN: usize = 4 + ID_LEN + SECRET_LEN + CHECKSUM_LEN;
/// Random bytes one token's secret needs (two per char).
pub const RANDOM_BYTES_FOR_TOKEN: usize = 2 * SECRET_LEN;
/// Chars in a client secret after `scs_`.
const CLIENT_SECRET_LEN: usize = 43;
/// Random bytes a client secret needs.
pub const RANDOM_BYTES_FOR_CLIENT_SECRET: usize = 2 * CLIENT_SECRET_LEN;
/// The regexes secret scanners use for OAuth tokens and client secrets.
pub const SCANNER_REGEXES: [&str; 3] = [
    "sat_[0-9A-Za-z]{54}",
    "srt_[0-9A-Za-z]{54}",
    "scs_[0-9A-Za-z]{43}",
];

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// `sac_`: an authorization code.
    Code,
    /// `sat_`: an access token.
    Access,
    /// `srt_`: a refresh token.
    Refresh,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Code => "sac_",
            TokenKind::Access => "sat_",
            TokenKind::Refresh => "srt_",
        }
    }

    /// RFC 7662's `token_type` hint names.
    pub fn hint(self) -> &'static str {
        match self {
            TokenKind::Code => "authorization_code",
            TokenKind::Access => "access_token",
            TokenKind::Refresh => "refresh_token",
        }
    }
}

/// A well-formed code or token (prefix, length, alphabet, checksum). Only its grant's
/// guard can say whether it works.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthToken {
    text: String,
    kind: TokenKind,
    grant: GrantId,
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OAuthToken({:?}, {})", self.kind, self.grant)
    }
}

impl OAuthToken {
    /// Parses a token of any kind; `None` for anything malformed.
    pub fn parse(text: &str) -> Option<OAuthToken> {
        let kind = [TokenKind::Access, TokenKind::Refresh, TokenKind::Code]
            .into_iter()
            .find(|k| text.starts_with(k.prefix()))?;
        if text.len() != TOKEN_LEN || !text.as_bytes()[4..].iter().all(|&b| base62::is_base62(b)) {
            return None;
        }
        let (signed, checksum) = text.as_bytes().split_at(TOKEN_LEN - CHECKSUM_LEN);
        if !constant_time::eq(checksum, &base62::checksum(signed)) {
            return None;
        }
        let grant = GrantId::from_chars(&text[4..4 + ID_LEN])?;
        Some(OAuthToken {
            text: text.to_owned(),
            kind,
            grant,
        })
    }

    /// Parses a token that must be of `kind`.
    pub fn parse_kind(text: &str, kind: TokenKind) -> Option<OAuthToken> {
        OAuthToken::parse(text).filter(|t| t.kind == kind)
    }

    /// A new token of `kind` for `grant`.
    pub fn generate(
        kind: TokenKind,
        grant: GrantId,
        random: &[u8; RANDOM_BYTES_FOR_TOKEN],
    ) -> OAuthToken {
        let mut text = String::with_capacity(TOKEN_LEN);
        text.push_str(kind.prefix());
        text.push_str(grant.chars());
        for pair in random.chunks_exact(2) {
            text.push(base62::char_from_random(pair[0], pair[1]) as char);
        }
        let checksum = base62::checksum(text.as_bytes());
        text.extend(checksum.iter().map(|&b| b as char));
        OAuthToken { text, kind, grant }
    }

    /// What it is.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// Its grant.
    pub fn grant(&self) -> GrantId {
        self.grant
    }

    /// SHA-256 hex: the only form stored.
    pub fn hash_hex(&self) -> String {
        hash_hex(self.text.as_bytes())
    }

    /// The grant id's 16 chars, which name the grant's guard.
    pub fn grant_chars(&self) -> &str {
        &self.text[4..4 + ID_LEN]
    }

    /// The token itself; only the redirect and the token response carry it.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }
}

/// A new client secret: `scs_` + 43 base62 chars (≈ 256 bits).
pub fn client_secret(random: &[u8; RANDOM_BYTES_FOR_CLIENT_SECRET]) -> String {
    let mut text = String::from("scs_");
    for pair in random.chunks_exact(2) {
        text.push(base62::char_from_random(pair[0], pair[1]) as char);
    }
    text
}
