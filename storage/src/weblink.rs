//! Counters that hand out a web vote link at SERVED instead of lighting a keypad: which ones, for
//! how long a link is good, and the office's link key (`faccia_domain::remote::link_token`).

use faccia_domain::remote::link_token;
use faccia_domain::Millis;

/// The 32-byte key link tokens are derived under. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkKey([u8; 32]);

impl LinkKey {
    pub fn new(bytes: [u8; 32]) -> LinkKey {
        LinkKey(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// The web channel's rules for one site.
#[derive(Debug, Clone)]
pub struct WebLinks {
    /// Counters whose SERVED opens a WEB session with a link (none of them has a keypad).
    pub counters: Vec<String>,
    /// How long a link takes a vote, from the end of the service.
    pub lifetime_ms: Millis,
    pub key: LinkKey,
}

impl WebLinks {
    /// Whether a SERVED at `counter` issues a link.
    pub fn issues_at(&self, counter: &str) -> bool {
        self.counters.iter().any(|c| c == counter)
    }

    /// The link token of session `session_id` (the same every time: a retried SERVED gets the
    /// same link back).
    pub fn token(&self, session_id: &str) -> String {
        link_token(&self.key.0, session_id)
    }
}
