//! The web channel: the vote page behind a single-use link (`GET`/`POST /v/<token>`), served by
//! `faccia serve` on its own port beside gRPC when `[web] enabled`.
//!
//! Plain HTML forms, no script, no cookie; a strict CSP and `Referrer-Policy: no-referrer` on
//! every answer. Neither the citizen's address nor the token is stored or logged (the database
//! keeps the token's SHA-256; logs show its first 8 hex digits at most). One vote per link, also
//! under concurrent submissions: the store's writer decides.

pub mod form;
pub mod pages;

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use faccia_domain::event::{MAX_FUTURE_MS, MAX_ID_LEN};
use faccia_domain::remote::{clean_free_text, looks_like_token, token_hash, StarAnswer};
use faccia_domain::session::{session_id, Channel, Face, Judgement, SessionState};
use faccia_domain::{Lang, Millis};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::config::WebConfig;
use crate::grpc::{Office, Shared};
use crate::storage::models::SessionRow;
use crate::storage::{remote, RemoteSession, RemoteVote, WebExtras, WebLinks};

use pages::{About, Words};

/// Where the stylesheet is served (same origin, allowed by the CSP).
pub const CSS_PATH: &str = "/static/faccia-1.css";

/// The CSP of every answer: nothing but the same-origin stylesheet, forms posting here only.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

/// The largest form body taken (the free text is 200 characters, percent-encoded).
const BODY_LIMIT: usize = 8 * 1024;

/// The link of a WEB session of `office`, when the web channel is on.
pub fn link_of(shared: &Shared, office: &Office, session_id: &str) -> Option<String> {
    let web = shared.config.web.as_ref()?;
    let links = office.store.web_links()?;
    Some(web.link(&links.token(session_id)))
}

/// An online service that ended (`QueueEvents.IssueVoteLink`).
#[derive(Debug, Clone)]
pub struct OnlineService {
    pub source_id: String,
    pub reference: String,
    pub service_code: String,
    pub counter_id: String,
    pub served_at: Millis,
}

/// A field of `IssueVoteLink` that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{field}: {problem}")]
pub struct InvalidLinkRequest {
    pub field: &'static str,
    pub problem: String,
}

fn check_field(field: &'static str, v: &str, required: bool) -> Result<(), InvalidLinkRequest> {
    let bad = |problem: String| Err(InvalidLinkRequest { field, problem });
    if v.is_empty() {
        return if required {
            bad("is required and was empty".into())
        } else {
            Ok(())
        };
    }
    if v.len() > MAX_ID_LEN {
        return bad(format!(
            "is {} bytes long; at most {MAX_ID_LEN} are allowed",
            v.len()
        ));
    }
    if v.chars().any(char::is_control) {
        return bad("contains control characters".into());
    }
    Ok(())
}

/// The WEB session of an online service, checked: one per (source, reference) ever, its link
/// good for the configured lifetime from `served_at`.
pub fn online_session(
    office: &Office,
    links: &WebLinks,
    web: &WebConfig,
    s: OnlineService,
    now: Millis,
) -> Result<RemoteSession, InvalidLinkRequest> {
    check_field("source_id", &s.source_id, true)?;
    check_field("reference", &s.reference, true)?;
    check_field("service_code", &s.service_code, true)?;
    check_field("counter_id", &s.counter_id, false)?;
    if !office.site.services().is_empty() && office.site.service(&s.service_code).is_none() {
        return Err(InvalidLinkRequest {
            field: "service_code",
            problem: format!(
                "{:?} is not a service of site {:?} ({})",
                s.service_code,
                office.site.id(),
                office
                    .site
                    .services()
                    .iter()
                    .map(|v| v.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    if s.served_at > now + MAX_FUTURE_MS {
        return Err(InvalidLinkRequest {
            field: "served_at",
            problem: "is more than 24 h in the future: check the caller's clock".into(),
        });
    }
    let expires_at = s.served_at.saturating_add(web.lifetime_ms);
    if expires_at <= now {
        return Err(InvalidLinkRequest {
            field: "served_at",
            problem: format!(
                "is more than {} h ago: the link would take no vote",
                web.lifetime_ms / 3_600_000
            ),
        });
    }
    // Kept apart from the queue systems' sources: a reference never meets a ticket id.
    let source_id = format!("web:{}", s.source_id);
    let id = session_id(office.site.id(), &source_id, &s.reference);
    Ok(RemoteSession {
        channel: Channel::Web,
        source_id,
        ticket_id: s.reference,
        // Empty when the caller names no counter: an online service is no counter's
        // (`session::given_at_counter`).
        counter_id: s.counter_id,
        service_code: s.service_code,
        served_at: s.served_at,
        expires_at,
        link_hash: Some(token_hash(&links.token(&id))),
    })
}

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    web: Arc<WebConfig>,
}

/// The page's router (also used by tests in-process).
pub fn router(shared: Arc<Shared>, web: WebConfig) -> Router {
    let app = App {
        shared,
        web: Arc::new(web),
    };
    Router::new()
        .route("/v/{token}", get(show).post(vote))
        .route(CSS_PATH, get(css))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(secure))
        .with_state(app)
}

/// Serves the vote page on `listener` until `shutdown` completes.
pub async fn serve(
    shared: Arc<Shared>,
    web: WebConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, public_url = %web.public_url, "web vote page on http://{addr}");
    }
    axum::serve(listener, router(shared, web))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn secure(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.remove(header::SET_COOKIE);
    res
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        pages::CSS,
    )
        .into_response()
}

/// The language: `?lang=` (or the form's `lang`), else the browser's Accept-Language, else
/// Italian.
fn language(explicit: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(l) = explicit.and_then(|l| l.parse().ok()) {
        return l;
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first of it/en by preference (q values in order of appearance are good enough:
    // browsers list languages by preference).
    let mut best: Option<(f32, Lang)> = None;
    for part in accept.split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("it") => Lang::It,
            Some("en") => Lang::En,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::It, |(_, l)| l)
}

fn query_lang(uri: &Uri) -> Option<String> {
    let q = form::pairs(uri.query().unwrap_or("").as_bytes());
    form::get(&q, "lang").map(str::to_string)
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// What a link leads to.
enum Found {
    /// Not a link of this server (malformed, unknown, or another server's site).
    None,
    Session(Arc<Office>, Box<SessionRow>),
}

/// The first 8 hex digits of the token's hash: enough to follow a link in the logs, useless to
/// vote with.
fn tag(hash: &str) -> &str {
    &hash[..8.min(hash.len())]
}

impl App {
    fn page(&self, page: &'static str) {
        self.shared.metrics.web_page(page);
    }

    /// Looks the token up by its hash. A malformed token is hashed too and refused without a
    /// lookup; a well-formed one always costs one lookup.
    async fn find(&self, token: &str) -> (String, Found) {
        let hash = token_hash(token);
        if !looks_like_token(token) {
            return (hash, Found::None);
        }
        let Some(any) = self.shared.offices.first() else {
            return (hash, Found::None);
        };
        let h = hash.clone();
        let found = any
            .store
            .read(move |c| remote::session_of_link(c, &h))
            .await;
        let found = match found {
            Ok(Some((_link, session))) => self
                .shared
                .offices
                .iter()
                .find(|o| o.site.id() == session.site_id)
                .map_or(Found::None, |o| {
                    Found::Session(o.clone(), Box::new(session))
                }),
            Ok(None) => Found::None,
            Err(e) => {
                tracing::warn!(link = tag(&hash), error = %e, "web: cannot look the link up");
                Found::None
            }
        };
        (hash, found)
    }

    fn about(&self, office: &Office, s: &SessionRow, lang: Lang) -> About {
        let tz = office.site.time_zone;
        let fmt = |ms: Millis, f: &str| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|d| d.with_timezone(&tz).format(f).to_string())
                .unwrap_or_default()
        };
        let service = office
            .site
            .service(&s.service_code)
            .map_or(s.service_code.clone(), |v| v.name.clone());
        let counter = match office.site.counter(&s.counter_id) {
            Some(c) => c.name.clone(),
            None => s.counter_id.clone(),
        };
        let until = match lang {
            Lang::It => fmt(s.expires_at, "%d/%m/%Y, ore %H:%M"),
            Lang::En => fmt(s.expires_at, "%d/%m/%Y, %H:%M"),
        };
        About {
            office: office.site.name().to_string(),
            service,
            counter,
            day: fmt(s.served_at, "%d/%m/%Y"),
            until,
        }
    }

    fn not_found(&self, w: &Words) -> Response {
        self.page("not_found");
        html(
            StatusCode::NOT_FOUND,
            pages::message(w, w.not_found_title, w.not_found_body, None, None),
        )
    }

    fn expired(&self, w: &Words, office: &Office, path: &str) -> Response {
        self.page("expired");
        html(
            StatusCode::GONE,
            pages::message(
                w,
                w.expired_title,
                w.expired_body,
                Some(office.site.name()),
                Some(path),
            ),
        )
    }

    fn already(&self, w: &Words, office: &Office, path: &str, status: StatusCode) -> Response {
        self.page("already_voted");
        html(
            status,
            pages::message(
                w,
                w.already_title,
                w.already_body,
                Some(office.site.name()),
                Some(path),
            ),
        )
    }

    fn bad(&self, w: &Words, office: &Office, path: &str) -> Response {
        self.page("bad_request");
        html(
            StatusCode::BAD_REQUEST,
            pages::message(
                w,
                w.bad_title,
                w.bad_body,
                Some(office.site.name()),
                Some(path),
            ),
        )
    }
}

/// Open and within its time: the page takes a vote.
fn takes_vote(s: &SessionRow, now: Millis) -> Result<(), bool> {
    match SessionState::parse(&s.state) {
        Some(SessionState::Voted) => Err(true),
        Some(SessionState::Open) if now < s.expires_at => Ok(()),
        _ => Err(false),
    }
}

async fn show(
    State(app): State<App>,
    Path(token): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let w = pages::words(language(query_lang(&uri).as_deref(), &headers));
    let (_hash, found) = app.find(&token).await;
    let Found::Session(office, s) = found else {
        return app.not_found(w);
    };
    let path = uri.path().to_string();
    match takes_vote(&s, office.store.now()) {
        Err(true) => app.already(w, &office, &path, StatusCode::OK),
        Err(false) => app.expired(w, &office, &path),
        Ok(()) => {
            let about = app.about(&office, &s, lang_of(w));
            app.page("vote");
            let body = if app.web.agid_form {
                pages::stars(w, &about, &path, false)
            } else {
                pages::faces(w, &about, &path)
            };
            html(StatusCode::OK, body)
        }
    }
}

fn lang_of(w: &Words) -> Lang {
    if w.lang == "en" {
        Lang::En
    } else {
        Lang::It
    }
}

/// What a POST asks for.
enum Step {
    /// Show the next step of the form (the reasons after red, the AGID follow-up).
    Next(Response),
    Store(Judgement, WebExtras),
    Bad,
}

async fn vote(
    State(app): State<App>,
    Path(token): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form::pairs(&body);
    let explicit = query_lang(&uri).or_else(|| form::get(&fields, "lang").map(str::to_string));
    let w = pages::words(language(explicit.as_deref(), &headers));
    let (hash, found) = app.find(&token).await;
    let Found::Session(office, s) = found else {
        return app.not_found(w);
    };
    let path = uri.path().to_string();
    let now = office.store.now();
    match takes_vote(&s, now) {
        Err(true) => return app.already(w, &office, &path, StatusCode::CONFLICT),
        Err(false) => return app.expired(w, &office, &path),
        Ok(()) => {}
    }
    let about = || app.about(&office, &s, lang_of(w));
    let step = if app.web.agid_form {
        agid_step(&app, w, &fields, &path, about)
    } else {
        faces_step(&app, w, &fields, &path, about)
    };
    let (judgement, extras) = match step {
        Step::Next(r) => return r,
        Step::Bad => return app.bad(w, &office, &path),
        Step::Store(j, e) => (j, e),
    };
    match office
        .store
        .record_remote_vote(s.session_id.clone(), judgement, extras)
        .await
    {
        Ok(RemoteVote::Stored(_)) => {
            tracing::info!(
                link = tag(&hash),
                site = office.site.id(),
                "web vote stored"
            );
            app.page("thanks");
            html(
                StatusCode::OK,
                pages::message(
                    w,
                    w.thanks_title,
                    w.thanks_body,
                    Some(office.site.name()),
                    None,
                ),
            )
        }
        Ok(RemoteVote::AlreadyVoted) => app.already(w, &office, &path, StatusCode::CONFLICT),
        Ok(RemoteVote::Refused(_)) => app.expired(w, &office, &path),
        Err(e) => {
            tracing::warn!(link = tag(&hash), error = %e, "web vote not stored");
            app.page("unavailable");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::message(
                    w,
                    w.bad_title,
                    w.bad_body,
                    Some(office.site.name()),
                    Some(&path),
                ),
            )
        }
    }
}

fn faces_step(
    app: &App,
    w: &Words,
    fields: &[(String, String)],
    path: &str,
    about: impl Fn() -> About,
) -> Step {
    let face = match form::get(fields, "face") {
        Some("green") => Face::Green,
        Some("yellow") => Face::Yellow,
        Some("red") => Face::Red,
        _ => return Step::Bad,
    };
    let reason = match (face, form::get(fields, "reason")) {
        (Face::Red, None) => {
            app.page("reasons");
            return Step::Next(html(StatusCode::OK, pages::reasons(w, &about(), path)));
        }
        (Face::Red, Some("0")) | (_, None) => None,
        (Face::Red, Some(r)) => match r.parse::<u8>() {
            Ok(n @ 1..=4) => Some(n),
            _ => return Step::Bad,
        },
        (_, Some(_)) => return Step::Bad,
    };
    Step::Store(Judgement { face, reason }, WebExtras::default())
}

fn agid_step(
    app: &App,
    w: &Words,
    fields: &[(String, String)],
    path: &str,
    about: impl Fn() -> About,
) -> Step {
    let stars = match form::get(fields, "stars").map(str::parse::<u8>) {
        None => {
            // A browser that ignored `required`: ask again, saying why.
            app.page("vote");
            return Step::Next(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::stars(w, &about(), path, true),
            ));
        }
        Some(Ok(n @ 1..=5)) => n,
        Some(_) => return Step::Bad,
    };
    if form::get(fields, "step") != Some("2") {
        app.page("follow_up");
        return Step::Next(html(
            StatusCode::OK,
            pages::follow_up(w, &about(), path, stars),
        ));
    }
    let follow_up = match form::get(fields, "follow_up") {
        None | Some("") => None,
        Some(f) => match f.parse::<u8>() {
            Ok(n @ 1..=5) => Some(n),
            _ => return Step::Bad,
        },
    };
    let Some(answer) = StarAnswer::new(stars, follow_up) else {
        return Step::Bad;
    };
    let free_text = form::get(fields, "text")
        .and_then(clean_free_text)
        .map(|t| (t, app.web.retention_ms));
    Step::Store(
        answer.judgement(),
        WebExtras {
            stars: Some((stars, follow_up)),
            free_text,
        },
    )
}

async fn fallback(State(app): State<App>, uri: Uri, headers: HeaderMap) -> Response {
    let w = pages::words(language(query_lang(&uri).as_deref(), &headers));
    app.not_found(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        let mut h = HeaderMap::new();
        assert_eq!(language(None, &h), Lang::It);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("de-DE,de;q=0.9,en;q=0.8,it;q=0.5"),
        );
        assert_eq!(language(None, &h), Lang::En);
        assert_eq!(language(Some("it"), &h), Lang::It);
        assert_eq!(language(Some("xx"), &h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("it-IT,it;q=0.9,en-US;q=0.8"),
        );
        assert_eq!(language(None, &h), Lang::It);
    }
}
