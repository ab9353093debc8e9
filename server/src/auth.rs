//! Bearer tokens with roles. Tokens are kept only as SHA-256 digests and compared in constant
//! time; health checking and reflection stay open.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::Status;

use crate::config::{Role, TokenSettings};

/// Who is calling, once the token is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
struct Entry {
    digest: [u8; 32],
    name: String,
    role: Role,
}

/// The configured credentials.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    entries: Vec<Entry>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Credentials {
    /// From `[[auth.tokens]]` (already validated by the configuration).
    pub fn from_settings(tokens: &[TokenSettings]) -> Credentials {
        let entries = tokens
            .iter()
            .filter_map(|t| {
                let digest = match (&t.token, &t.sha256) {
                    (Some(clear), _) => digest(clear),
                    (None, Some(h)) => hex::decode(h).ok()?.try_into().ok()?,
                    (None, None) => return None,
                };
                Some(Entry {
                    digest,
                    name: t.name.clone(),
                    role: t.role,
                })
            })
            .collect();
        Credentials { entries }
    }

    /// Checks the `authorization: Bearer <token>` header and that the caller's role is allowed.
    pub fn check(&self, metadata: &MetadataMap, allowed: &[Role]) -> Result<Caller, Status> {
        let header = metadata
            .get("authorization")
            .ok_or_else(|| {
                Status::unauthenticated(
                    "missing credentials: send the header `authorization: Bearer <token>`",
                )
            })?
            .to_str()
            .map_err(|_| Status::unauthenticated("the authorization header is not valid text"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Status::unauthenticated("the authorization header must be `Bearer <token>`")
            })?;
        let presented = digest(token);
        // Look at every entry, whatever matches, so timing tells nothing.
        let mut found: Option<&Entry> = None;
        for e in &self.entries {
            if bool::from(e.digest.ct_eq(&presented)) {
                found = Some(e);
            }
        }
        let entry = found.ok_or_else(|| Status::unauthenticated("unknown or revoked token"))?;
        if entry.role != Role::Admin && !allowed.contains(&entry.role) {
            return Err(Status::permission_denied(format!(
                "the credential {:?} has role `{}`; this call needs {}",
                entry.name,
                role_name(entry.role),
                allowed
                    .iter()
                    .chain(std::iter::once(&Role::Admin))
                    .map(|r| format!("`{}`", role_name(*r)))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        Ok(Caller {
            name: entry.name.clone(),
            role: entry.role,
        })
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Queue => "queue",
        Role::Viewer => "viewer",
        Role::Admin => "admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::from_settings(&[
            TokenSettings {
                name: "q".into(),
                role: Role::Queue,
                token: Some("queue-secret".into()),
                sha256: None,
            },
            TokenSettings {
                name: "a".into(),
                role: Role::Admin,
                token: None,
                sha256: Some(hex::encode(digest("admin-secret"))),
            },
        ])
    }

    fn md(v: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", v.parse().unwrap());
        m
    }

    #[test]
    fn roles() {
        let c = creds();
        assert_eq!(
            c.check(&md("Bearer queue-secret"), &[Role::Queue])
                .unwrap()
                .name,
            "q"
        );
        let e = c
            .check(&md("Bearer queue-secret"), &[Role::Viewer])
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(c.check(&md("Bearer admin-secret"), &[Role::Viewer]).is_ok());
        let e = c.check(&md("Bearer nope"), &[Role::Queue]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let e = c.check(&MetadataMap::new(), &[Role::Queue]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let e = c.check(&md("Basic abc"), &[Role::Queue]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
    }
}
