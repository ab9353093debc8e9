//! The ingress's errors: one place maps the gRPC statuses of the shared handlers (and the
//! ingress's own refusals) to HTTP statuses and the JSON error body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tonic::{Code, Status};

/// Seconds a sender should wait before retrying after a 503.
pub const RETRY_AFTER_S: u32 = 2;

/// An error answer: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// The gRPC code name (`INVALID_ARGUMENT`, ...) or an HTTP-only one
    /// (`PAYLOAD_TOO_LARGE`, `UNSUPPORTED_MEDIA_TYPE`, `NOT_FOUND`).
    pub code: &'static str,
    pub message: String,
    /// The field at fault (`counter_id`, `events[3].occurred_at`, `x-webhook-event`, ...).
    pub field: Option<String>,
    /// In a batch: the acks of the events stored before the one that failed.
    pub done: Option<Vec<serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            done: None,
        }
    }

    /// 400 naming the field.
    pub fn invalid(field: impl Into<String>, problem: impl std::fmt::Display) -> ApiError {
        let field = field.into();
        ApiError {
            message: format!("{field}: {problem}"),
            field: Some(field),
            ..ApiError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "")
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
    }

    pub fn unsupported_media(mime: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("Content-Type {mime:?}: send application/json"),
        )
    }

    /// The HTTP answer of a gRPC status of the shared handlers.
    pub fn from_status(s: Status) -> ApiError {
        let (status, code) = match s.code() {
            Code::InvalidArgument => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            Code::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            // The same event_id with other content.
            Code::FailedPrecondition => (StatusCode::CONFLICT, "FAILED_PRECONDITION"),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            // Not run because an earlier event of its batch failed: send it again.
            Code::Aborted => (StatusCode::SERVICE_UNAVAILABLE, "ABORTED"),
            Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "UNIMPLEMENTED"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        };
        let message = s.message().to_string();
        // The domain's messages are `field: problem`.
        let field = (s.code() == Code::InvalidArgument)
            .then(|| message.split_once(": ").map(|(f, _)| f))
            .flatten()
            .filter(|f| {
                !f.is_empty()
                    && f.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']')
                    })
            })
            .map(str::to_string);
        ApiError {
            status,
            code,
            message,
            field,
            done: None,
        }
    }

    /// The error of item `i` of the list `list`: its field becomes `list[i].field`.
    pub fn at_index(mut self, list: &str, i: usize) -> ApiError {
        let prefix = format!("{list}[{i}]");
        match self.field.take() {
            Some(f) => {
                self.message = match self.message.strip_prefix(&format!("{f}: ")) {
                    Some(rest) => format!("{prefix}.{f}: {rest}"),
                    None => format!("{prefix}: {}", self.message),
                };
                self.field = Some(format!("{prefix}.{f}"));
            }
            None => {
                self.message = format!("{prefix}: {}", self.message);
                self.field = Some(prefix);
            }
        }
        self
    }

    pub fn with_done(mut self, acks: Vec<serde_json::Value>) -> ApiError {
        self.done = Some(acks);
        self
    }

    pub fn body(&self) -> serde_json::Value {
        let mut e = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(f) = &self.field {
            e["field"] = serde_json::Value::String(f.clone());
        }
        let mut out = serde_json::json!({ "error": e });
        if let Some(done) = &self.done {
            out["acks"] = serde_json::Value::Array(done.clone());
        }
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body().to_string(),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_http() {
        let e = ApiError::from_status(Status::invalid_argument(
            "counter_id: is required and was empty",
        ));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.field.as_deref(), Some("counter_id"));
        let e = e.at_index("events", 3);
        assert_eq!(e.field.as_deref(), Some("events[3].counter_id"));
        assert_eq!(e.message, "events[3].counter_id: is required and was empty");
        for (s, http) in [
            (Status::unauthenticated("x"), 401),
            (Status::permission_denied("x"), 403),
            (Status::not_found("x"), 404),
            (Status::failed_precondition("x"), 409),
            (Status::unavailable("x"), 503),
        ] {
            assert_eq!(ApiError::from_status(s).status.as_u16(), http);
        }
        let e = ApiError::from_status(Status::invalid_argument(
            "site_id is required: this server serves several sites (a, b)",
        ));
        assert_eq!(e.field, None);
        let r = ApiError::unavailable("busy").into_response();
        assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }
}
