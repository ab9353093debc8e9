//! Bearer tokens with roles, and who may call what: one table, [`METHODS`], that the gRPC
//! layer ([`crate::grpc::calls`]) applies to every call before any handler runs. Tokens are kept
//! only as SHA-256 digests and compared in constant time; health checking and reflection stay
//! open.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;

use crate::config::{Role, TokenSettings};

/// Who may call a method. `admin` may always call a method that needs a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (health checking, reflection).
    Open,
    /// A bearer token with one of these roles (or `admin`).
    Roles(&'static [Role]),
}

pub const QUEUE_EVENTS: &str = "faccia.v1.QueueEvents";
pub const MONITOR: &str = "faccia.v1.Monitor";
pub const REPORTS: &str = "faccia.v1.Reports";
pub const HEALTH: &str = "grpc.health.v1.Health";
pub const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
pub const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

const QUEUE: Access = Access::Roles(&[Role::Queue]);
const VIEWER: Access = Access::Roles(&[Role::Viewer]);
const ADMIN: Access = Access::Roles(&[Role::Admin]);

/// Every method served: (service, method, who may call it). A path not in this table needs the
/// `admin` role (fail closed: a method added to the API without a rule here is not open) and
/// is not counted in the metrics (unknown paths must not make new series).
pub const METHODS: &[(&str, &str, Access)] = &[
    (QUEUE_EVENTS, "Publish", QUEUE),
    (QUEUE_EVENTS, "Stream", QUEUE),
    (QUEUE_EVENTS, "Reconcile", QUEUE),
    (QUEUE_EVENTS, "IssueVoteLink", QUEUE),
    (MONITOR, "ListSites", VIEWER),
    (MONITOR, "GetSnapshot", VIEWER),
    (MONITOR, "GetSatisfaction", VIEWER),
    (MONITOR, "WatchEvents", VIEWER),
    (MONITOR, "KeypadCommand", ADMIN),
    (REPORTS, "GetMonthly", VIEWER),
    (REPORTS, "Render", VIEWER),
    (HEALTH, "Check", Access::Open),
    (HEALTH, "Watch", Access::Open),
    (REFLECTION_V1, "ServerReflectionInfo", Access::Open),
    (REFLECTION_V1ALPHA, "ServerReflectionInfo", Access::Open),
];

/// The rule for a request path `/package.Service/Method`: the table's names (static, for the
/// metrics) and the access, or `None` for a path not in the table.
pub fn rule(path: &str) -> Option<(&'static str, &'static str, Access)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    METHODS
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        .copied()
}

/// Who is calling, once the token is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// The sites the token names (`None`: every site).
    pub sites: Option<Vec<String>>,
}

impl Caller {
    /// May this caller publish for (queue) or see (viewer) `site`? An admin may always.
    pub fn may_use(&self, site: &str) -> bool {
        self.role == Role::Admin
            || self
                .sites
                .as_ref()
                .is_none_or(|list| list.iter().any(|s| s == site))
    }
}

#[derive(Debug, Clone)]
struct Entry {
    digest: [u8; 32],
    name: String,
    role: Role,
    sites: Option<Vec<String>>,
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
                    sites: t.sites.clone(),
                })
            })
            .collect();
        Credentials { entries }
    }

    /// Checks the `authorization: Bearer <token>` header and that the caller's role is allowed.
    pub fn check(&self, headers: &HeaderMap, allowed: &[Role]) -> Result<Caller, Status> {
        let header = headers
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
                    .filter(|r| **r != Role::Admin)
                    .chain(std::iter::once(&Role::Admin))
                    .map(|r| format!("`{}`", role_name(*r)))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        Ok(Caller {
            name: entry.name.clone(),
            role: entry.role,
            sites: entry.sites.clone(),
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
                sites: Some(vec!["north".into()]),
            },
            TokenSettings {
                name: "a".into(),
                role: Role::Admin,
                token: None,
                sha256: Some(hex::encode(digest("admin-secret"))),
                sites: Some(vec!["north".into()]),
            },
        ])
    }

    fn md(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
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
        let e = c.check(&HeaderMap::new(), &[Role::Queue]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let e = c.check(&md("Basic abc"), &[Role::Queue]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let e = c
            .check(&md("Bearer queue-secret"), &[Role::Admin])
            .unwrap_err();
        assert_eq!(
            e.message(),
            "the credential \"q\" has role `queue`; this call needs `admin`"
        );
    }

    #[test]
    fn a_token_uses_the_sites_it_names_and_an_admin_every_site() {
        let c = creds();
        let q = c.check(&md("Bearer queue-secret"), &[Role::Queue]).unwrap();
        assert!(q.may_use("north"));
        assert!(!q.may_use("south"));
        let a = c.check(&md("Bearer admin-secret"), &[Role::Queue]).unwrap();
        assert!(a.may_use("south"), "admin sees every site");
        let any = Caller {
            name: "x".into(),
            role: Role::Viewer,
            sites: None,
        };
        assert!(any.may_use("north") && any.may_use("south"));
    }

    /// Every method of every service served has a rule, and every rule names a served method.
    #[test]
    fn the_table_covers_every_method() {
        use prost::Message as _;
        let mut served = Vec::new();
        for set in [
            faccia_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ] {
            let set = prost_types::FileDescriptorSet::decode(set).expect("descriptor set");
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        served.push(format!(
                            "/{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
        for path in &served {
            assert!(rule(path).is_some(), "no access rule for {path}");
        }
        for (s, m, _) in METHODS {
            let path = format!("/{s}/{m}");
            assert!(served.contains(&path), "{path} is not served");
        }
        assert_eq!(served.len(), METHODS.len(), "{served:?}");
        assert_eq!(
            rule("/faccia.v1.Monitor/KeypadCommand").map(|r| r.2),
            Some(ADMIN)
        );
        assert_eq!(rule("/faccia.v1.Monitor"), None);
        assert_eq!(rule("/faccia.v1.Nope/Publish"), None);
    }
}
