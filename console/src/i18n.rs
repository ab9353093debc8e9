//! Every string the console shows, in Italian and English. Views never hold literal text: they
//! ask [`tr`] for the table of the user's language, or call the wording functions below.

use faccia_domain::Lang;
use faccia_proto::v1::vote_session::KeypadState;
use faccia_proto::v1::{
    AlertKind, EventType, KeypadAction, KeypadCommandResult, KeypadLink, LogKind, LogReason,
    Period, SessionOutcome,
};

use crate::keymap::Action;
use crate::model::{Activity, ApiError, ApiErrorKind, ReportDoc, SaveError, YearMonth};

/// Fixed strings of one language.
#[derive(Debug)]
pub struct Tr {
    pub app: &'static str,
    pub views: [&'static str; 6],
    pub connecting: &'static str,
    pub connected: &'static str,
    pub lost: &'static str,
    pub attempt: &'static str,
    pub resumed_from: &'static str,
    pub waiting_server: &'static str,
    pub served: &'static str,
    pub waiting_now: &'static str,
    pub avg_wait: &'static str,
    pub votes: &'static str,
    pub participation: &'static str,
    pub faces: [&'static str; 3],
    pub face_letters: [&'static str; 3],
    pub no_alerts: &'static str,
    pub alerts_one: &'static str,
    pub alerts_many: &'static str,
    pub alerts_title: &'static str,
    pub more_alerts_hint: &'static str,
    pub col_counter: &'static str,
    pub col_state: &'static str,
    pub col_ticket: &'static str,
    pub col_service: &'static str,
    pub col_served: &'static str,
    pub col_service_time: &'static str,
    pub col_keypad: &'static str,
    pub col_operator: &'static str,
    pub unconfigured: &'static str,
    pub col_waiting: &'static str,
    pub col_longest: &'static str,
    pub col_avg: &'static str,
    pub col_p90: &'static str,
    pub col_within: &'static str,
    pub col_standard: &'static str,
    pub col_queue_day: &'static str,
    pub queue_of: &'static str,
    pub periods: [&'static str; 3],
    pub by_counter: &'static str,
    pub by_service: &'static str,
    pub by_channel: &'static str,
    pub reasons_title: &'static str,
    pub reasons: [&'static str; 5],
    pub loading: &'static str,
    /// After the month of the Reports view while it is still running.
    pub rep_in_progress: &'static str,
    pub from_to: [&'static str; 2],
    pub col_bus: &'static str,
    pub col_unit: &'static str,
    pub col_link: &'static str,
    pub col_since: &'static str,
    pub col_last_seen: &'static str,
    pub col_rtt: &'static str,
    pub col_errors: &'static str,
    pub col_faults: &'static str,
    pub col_ignored: &'static str,
    pub col_firmware: &'static str,
    pub timeouts: &'static str,
    pub crc_errors: &'static str,
    pub exceptions: &'static str,
    pub reboots: &'static str,
    pub serial_no: &'static str,
    pub faults: [&'static str; 7],
    pub no_faults: &'static str,
    pub keypad_commands_hint: &'static str,
    pub col_seq: &'static str,
    pub col_time: &'static str,
    pub col_kind: &'static str,
    pub col_description: &'static str,
    pub filter: &'static str,
    pub filter_hint: &'static str,
    pub events_kept: &'static str,
    pub no_data: &'static str,
    pub too_small: &'static str,
    pub help_title: &'static str,
    pub help_close: &'static str,
    pub confirm_yes_no: &'static str,
    pub command_sending: &'static str,
    pub command_sent: &'static str,
    pub err_unauthenticated: &'static str,
    pub err_permission: &'static str,
    pub err_unavailable: &'static str,
    pub err_other: &'static str,
    pub err_invalid: &'static str,
    pub err_permission_reports: &'static str,
    pub yes_keys: &'static str,
    /// Column titles for narrow screens: ticket, service, service time, waiting, longest,
    /// average, 90th percentile, within standard, standard, votes, participation.
    pub short: [&'static str; 11],
    pub min: &'static str,

    /// Reports view: "compared with", the waiting table's title and columns, the standard.
    pub rep_compared: &'static str,
    pub rep_points: &'static str,
    pub rep_waiting: &'static str,
    pub rep_counted: &'static str,
    pub rep_left_out: &'static str,
    pub rep_no_standard: &'static str,
    pub rep_below_target: &'static str,
    pub rep_target: &'static str,
    pub rep_met: &'static str,
    pub rep_red_votes: &'static str,
    /// Footer hints: month, save HTML, CSV, Ministry export.
    pub rep_hints: [&'static str; 5],
    /// Channel names for COUNTER, PHONE, WEB.
    pub channels: [&'static str; 3],
    /// The documents: the website page, the month's CSV, the Ministry export, the annual review.
    pub docs: [&'static str; 4],
    pub saving: &'static str,
    pub saved: &'static str,
    pub save_failed: &'static str,
    pub empty_document: &'static str,

    /// Several offices: the all-sites view (its tab, a short tab when the bar is full), its
    /// columns (wide, then narrow), the office picker and the hints.
    pub all_sites: &'static str,
    pub all_sites_short: &'static str,
    pub sites_label: &'static str,
    pub col_site: &'static str,
    pub col_local_time: &'static str,
    pub col_worst: &'static str,
    pub col_keypads: &'static str,
    pub keypads_online: &'static str,
    pub col_alerts: &'static str,
    /// Narrow column titles: time, served, waiting, wait, participation %, green %, yellow %,
    /// red %, keypads, alerts.
    pub sites_short: [&'static str; 10],
    pub of: &'static str,
    pub picker_title: &'static str,
    pub picker_hint: &'static str,
    pub site_hint: &'static str,
    pub open_hint: &'static str,
    pub discovering: &'static str,
    pub sites_lost_one: &'static str,
    pub sites_lost_many: &'static str,
    pub err_wrong_site: &'static str,
    pub err_no_sites: &'static str,
}

pub static IT: Tr = Tr {
    app: "faccia · Mettiamoci la faccia",
    views: [
        "Panoramica",
        "Code",
        "Gradimento",
        "Terminali",
        "Eventi",
        "Rapporti",
    ],
    connecting: "Connessione in corso…",
    connected: "Connesso",
    lost: "Connessione persa, riconnessione…",
    attempt: "tentativo",
    resumed_from: "Riconnesso, ripreso da",
    waiting_server: "In attesa dei dati dal server…",
    served: "Serviti",
    waiting_now: "In attesa",
    avg_wait: "Attesa media",
    votes: "Giudizi",
    participation: "Partecipazione",
    faces: ["Verde", "Giallo", "Rosso"],
    face_letters: ["V", "G", "R"],
    no_alerts: "Nessun avviso",
    alerts_one: "avviso",
    alerts_many: "avvisi",
    alerts_title: "Avvisi",
    more_alerts_hint: "tutti",
    col_counter: "Sportello",
    col_state: "Stato",
    col_ticket: "Biglietto",
    col_service: "Servizio",
    col_served: "Serviti",
    col_service_time: "T.servizio",
    col_keypad: "Pulsantiera",
    col_operator: "Operatore",
    unconfigured: "non configurato",
    col_waiting: "In attesa",
    col_longest: "Attesa max",
    col_avg: "Media",
    col_p90: "90° perc.",
    col_within: "Entro std",
    col_standard: "Standard",
    col_queue_day: "Coda nella giornata",
    queue_of: "Coda della giornata",
    periods: ["Oggi", "Settimana", "Mese"],
    by_counter: "Per sportello",
    by_service: "Per servizio",
    by_channel: "Per canale",
    reasons_title: "Motivi dopo il rosso",
    reasons: [
        "Nessun motivo",
        "Tempo di attesa",
        "Comportamento del personale",
        "Ho dovuto tornare",
        "Esito negativo",
    ],
    loading: "Caricamento…",
    rep_in_progress: "mese in corso",
    from_to: ["dal", "al"],
    col_bus: "Bus",
    col_unit: "Unità",
    col_link: "Stato",
    col_since: "Da",
    col_last_seen: "Ultimo contatto",
    col_rtt: "Risposta",
    col_errors: "Errori",
    col_faults: "Guasti",
    col_ignored: "Ignorate",
    col_firmware: "Firmware",
    timeouts: "timeout",
    crc_errors: "errori CRC",
    exceptions: "eccezioni",
    reboots: "riavvii",
    serial_no: "matricola",
    faults: [
        "tasto verde bloccato",
        "tasto giallo bloccato",
        "tasto rosso bloccato",
        "guasto LED",
        "tasto motivo bloccato",
        "memoria di configurazione guasta",
        "calo di tensione dall'avvio",
    ],
    no_faults: "nessuno",
    keypad_commands_hint: "comandi (admin)",
    col_seq: "#",
    col_time: "Ora",
    col_kind: "Tipo",
    col_description: "Descrizione",
    filter: "Filtro",
    filter_hint: "sportello:3 servizio:A tipo:giudizio, o testo libero; Invio applica, Esc annulla",
    events_kept: "eventi in memoria",
    no_data: "Nessun dato",
    too_small: "Finestra troppo piccola",
    help_title: "Aiuto — tasti",
    help_close: "Esc o ? per chiudere",
    confirm_yes_no: "(s/n)",
    command_sending: "Invio del comando…",
    command_sent: "Comando eseguito",
    err_unauthenticated: "Accesso negato: token mancante o non valido (UNAUTHENTICATED)",
    err_permission: "Permesso negato: serve il ruolo admin (PERMISSION_DENIED)",
    err_unavailable: "Server non raggiungibile (UNAVAILABLE)",
    err_other: "Errore dal server",
    err_invalid: "Richiesta rifiutata dal server (INVALID_ARGUMENT)",
    err_permission_reports: "Permesso negato: servono i ruoli viewer o admin (PERMISSION_DENIED)",
    yes_keys: "sSyY",
    short: [
        "Bigl.", "Serv.", "T.serv.", "Coda", "Max", "Media", "90° p.", "% std", "Std", "Giud.",
        "Part.",
    ],
    min: "min",
    rep_compared: "Rispetto a",
    rep_points: "punti",
    rep_waiting: "Tempi di attesa per servizio",
    rep_counted: "Conteggiati",
    rep_left_out: "Esclusi",
    rep_no_standard: "nessuno standard dichiarato",
    rep_below_target: "sotto l'obiettivo",
    rep_target: "obiettivo",
    rep_met: "raggiunto",
    rep_red_votes: "giudizi rossi",
    rep_hints: ["mese", "salva HTML", "CSV", "Ministero", "annuale"],
    channels: ["Sportello", "Telefono", "Web"],
    docs: [
        "la pagina per il sito",
        "il CSV del mese",
        "l'export per il Ministero",
        "la relazione annuale",
    ],
    saving: "Salvataggio in corso",
    saved: "Salvato",
    save_failed: "Salvataggio non riuscito",
    empty_document: "il server ha inviato un documento vuoto",
    all_sites: "Tutte le sedi",
    all_sites_short: "Sedi",
    sites_label: "Sedi",
    col_site: "Sede",
    col_local_time: "Ora locale",
    col_worst: "Attesa max/std",
    col_keypads: "Pulsantiere",
    keypads_online: "online",
    col_alerts: "Avvisi",
    sites_short: [
        "Ora", "Serv.", "Coda", "Attesa", "Part%", "V%", "G%", "R%", "Puls.", "Avv.",
    ],
    of: "di",
    picker_title: "Scegli la sede",
    picker_hint: "↑ ↓ e Invio, o il numero; Esc chiude",
    site_hint: "sede",
    open_hint: "apri",
    discovering: "in attesa dell'elenco delle sedi",
    sites_lost_one: "sede non raggiungibile",
    sites_lost_many: "sedi non raggiungibili",
    err_wrong_site: "Risposta scartata: il server ha risposto per un'altra sede",
    err_no_sites: "Il server non mostra nessuna sede a questo token",
};

pub static EN: Tr = Tr {
    app: "faccia · Mettiamoci la faccia",
    views: [
        "Overview",
        "Queues",
        "Satisfaction",
        "Keypads",
        "Events",
        "Reports",
    ],
    connecting: "Connecting…",
    connected: "Connected",
    lost: "Connection lost, reconnecting…",
    attempt: "attempt",
    resumed_from: "Reconnected, resumed from",
    waiting_server: "Waiting for data from the server…",
    served: "Served",
    waiting_now: "Waiting",
    avg_wait: "Avg wait",
    votes: "Votes",
    participation: "Participation",
    faces: ["Green", "Yellow", "Red"],
    face_letters: ["G", "Y", "R"],
    no_alerts: "No alerts",
    alerts_one: "alert",
    alerts_many: "alerts",
    alerts_title: "Alerts",
    more_alerts_hint: "all",
    col_counter: "Counter",
    col_state: "State",
    col_ticket: "Ticket",
    col_service: "Service",
    col_served: "Served",
    col_service_time: "Svc time",
    col_keypad: "Keypad",
    col_operator: "Operator",
    unconfigured: "not configured",
    col_waiting: "Waiting",
    col_longest: "Longest",
    col_avg: "Average",
    col_p90: "90th pct",
    col_within: "Within std",
    col_standard: "Standard",
    col_queue_day: "Queue through the day",
    queue_of: "Queue through the day",
    periods: ["Today", "Week", "Month"],
    by_counter: "By counter",
    by_service: "By service",
    by_channel: "By channel",
    reasons_title: "Reasons after red",
    reasons: [
        "No reason",
        "Waiting time",
        "Staff behaviour",
        "Had to come back",
        "Negative outcome",
    ],
    loading: "Loading…",
    rep_in_progress: "month in progress",
    from_to: ["from", "to"],
    col_bus: "Bus",
    col_unit: "Unit",
    col_link: "Link",
    col_since: "Since",
    col_last_seen: "Last seen",
    col_rtt: "Response",
    col_errors: "Errors",
    col_faults: "Faults",
    col_ignored: "Ignored",
    col_firmware: "Firmware",
    timeouts: "timeouts",
    crc_errors: "CRC errors",
    exceptions: "exceptions",
    reboots: "reboots",
    serial_no: "serial",
    faults: [
        "green key stuck",
        "yellow key stuck",
        "red key stuck",
        "LED fault",
        "reason key stuck",
        "config memory fault",
        "brown-out since boot",
    ],
    no_faults: "none",
    keypad_commands_hint: "commands (admin)",
    col_seq: "#",
    col_time: "Time",
    col_kind: "Kind",
    col_description: "Description",
    filter: "Filter",
    filter_hint: "counter:3 service:A kind:vote, or free text; Enter applies, Esc cancels",
    events_kept: "events in memory",
    no_data: "No data",
    too_small: "Window too small",
    help_title: "Help — keys",
    help_close: "Esc or ? to close",
    confirm_yes_no: "(y/n)",
    command_sending: "Sending the command…",
    command_sent: "Command done",
    err_unauthenticated: "Access denied: missing or invalid token (UNAUTHENTICATED)",
    err_permission: "Permission denied: the admin role is required (PERMISSION_DENIED)",
    err_unavailable: "Server unreachable (UNAVAILABLE)",
    err_other: "Server error",
    err_invalid: "Request refused by the server (INVALID_ARGUMENT)",
    err_permission_reports:
        "Permission denied: the viewer or admin role is required (PERMISSION_DENIED)",
    yes_keys: "yY",
    short: [
        "Tkt", "Svc", "Svc t.", "Queue", "Max", "Avg", "P90", "% std", "Std", "Votes", "Part.",
    ],
    min: "min",
    rep_compared: "Compared with",
    rep_points: "points",
    rep_waiting: "Waiting time by service",
    rep_counted: "Counted",
    rep_left_out: "Left out",
    rep_no_standard: "no declared standard",
    rep_below_target: "below target",
    rep_target: "target",
    rep_met: "met",
    rep_red_votes: "red votes",
    rep_hints: ["month", "save HTML", "CSV", "Ministry", "annual"],
    channels: ["Counter", "Phone", "Web"],
    docs: [
        "the website page",
        "the month's CSV",
        "the Ministry export",
        "the annual review",
    ],
    saving: "Saving",
    saved: "Saved",
    save_failed: "Saving failed",
    empty_document: "the server sent an empty document",
    all_sites: "All offices",
    all_sites_short: "All",
    sites_label: "Offices",
    col_site: "Office",
    col_local_time: "Local time",
    col_worst: "Longest/std",
    col_keypads: "Keypads",
    keypads_online: "online",
    col_alerts: "Alerts",
    sites_short: [
        "Time", "Srv", "Wait", "Avg", "Part%", "G%", "Y%", "R%", "Kpd", "Alr",
    ],
    of: "of",
    picker_title: "Choose an office",
    picker_hint: "↑ ↓ and Enter, or its number; Esc closes",
    site_hint: "office",
    open_hint: "open",
    discovering: "waiting for its list of offices",
    sites_lost_one: "office unreachable",
    sites_lost_many: "offices unreachable",
    err_wrong_site: "Answer dropped: the server answered for another office",
    err_no_sites: "The server shows this token no office",
};

/// The strings of a language.
pub fn tr(lang: Lang) -> &'static Tr {
    match lang {
        Lang::It => &IT,
        Lang::En => &EN,
    }
}

pub fn activity(lang: Lang, a: Activity) -> &'static str {
    match (lang, a) {
        (Lang::It, Activity::Closed) => "chiuso",
        (Lang::It, Activity::Idle) => "libero",
        (Lang::It, Activity::Calling) => "chiamata",
        (Lang::It, Activity::Serving) => "in servizio",
        (Lang::En, Activity::Closed) => "closed",
        (Lang::En, Activity::Idle) => "open, idle",
        (Lang::En, Activity::Calling) => "calling",
        (Lang::En, Activity::Serving) => "serving",
        (_, Activity::Unknown) => "?",
    }
}

pub fn keypad_link(lang: Lang, l: KeypadLink) -> &'static str {
    match (lang, l) {
        (Lang::It, KeypadLink::KeypadNone) => "nessuna",
        (Lang::It, KeypadLink::KeypadUnknown) => "sconosciuto",
        (Lang::En, KeypadLink::KeypadNone) => "none",
        (Lang::En, KeypadLink::KeypadUnknown) => "unknown",
        (_, KeypadLink::KeypadOnline) => "online",
        (_, KeypadLink::KeypadOffline) => "offline",
        (_, KeypadLink::Unspecified) => "?",
    }
}

pub fn period(lang: Lang, p: Period) -> &'static str {
    let t = tr(lang);
    match p {
        Period::Week => t.periods[1],
        Period::Month => t.periods[2],
        Period::Today | Period::Unspecified => t.periods[0],
    }
}

/// Short name of a log kind, also what the `tipo:`/`kind:` filter matches.
pub fn log_kind(lang: Lang, k: LogKind) -> &'static str {
    match (lang, k) {
        (Lang::It, LogKind::LogTicketEvent) => "biglietto",
        (Lang::It, LogKind::LogSessionOpened) => "sessione",
        (Lang::It, LogKind::LogSessionEnded) => "fine sessione",
        (Lang::It, LogKind::LogVoteRecorded) => "giudizio",
        (Lang::It, LogKind::LogCounter) => "sportello",
        (Lang::It, LogKind::LogDayReset) => "nuovo giorno",
        (Lang::It, LogKind::LogReconcile) => "riallineamento",
        (Lang::It, LogKind::LogKeypad) => "pulsantiera",
        (Lang::It, LogKind::LogOrphanVote) => "giudizio orfano",
        (Lang::En, LogKind::LogTicketEvent) => "ticket",
        (Lang::En, LogKind::LogSessionOpened) => "session",
        (Lang::En, LogKind::LogSessionEnded) => "session end",
        (Lang::En, LogKind::LogVoteRecorded) => "vote",
        (Lang::En, LogKind::LogCounter) => "counter",
        (Lang::En, LogKind::LogDayReset) => "day reset",
        (Lang::En, LogKind::LogReconcile) => "reconcile",
        (Lang::En, LogKind::LogKeypad) => "keypad",
        (Lang::En, LogKind::LogOrphanVote) => "orphan vote",
        (_, LogKind::Unspecified) => "?",
    }
}

fn ticket_verb(lang: Lang, e: EventType) -> &'static str {
    match (lang, e) {
        (Lang::It, EventType::Issued) => "emesso",
        (Lang::It, EventType::Called) => "chiamato",
        (Lang::It, EventType::Recalled) => "richiamato",
        (Lang::It, EventType::ServiceStarted) => "servizio iniziato",
        (Lang::It, EventType::Served) => "servito",
        (Lang::It, EventType::NoShow) => "non presentato",
        (Lang::It, EventType::Cancelled) => "annullato",
        (Lang::It, EventType::Transferred) => "trasferito",
        (Lang::It, EventType::Requeued) => "rimesso in coda",
        (Lang::It, EventType::DayReset) => "azzeramento giornaliero",
        (Lang::It, EventType::CounterOpened) => "sportello aperto",
        (Lang::It, EventType::CounterClosed) => "sportello chiuso",
        (Lang::En, EventType::Issued) => "issued",
        (Lang::En, EventType::Called) => "called",
        (Lang::En, EventType::Recalled) => "recalled",
        (Lang::En, EventType::ServiceStarted) => "service started",
        (Lang::En, EventType::Served) => "served",
        (Lang::En, EventType::NoShow) => "no-show",
        (Lang::En, EventType::Cancelled) => "cancelled",
        (Lang::En, EventType::Transferred) => "transferred",
        (Lang::En, EventType::Requeued) => "requeued",
        (Lang::En, EventType::DayReset) => "daily reset",
        (Lang::En, EventType::CounterOpened) => "counter opened",
        (Lang::En, EventType::CounterClosed) => "counter closed",
        (_, EventType::Unspecified) => "?",
    }
}

fn outcome(lang: Lang, o: SessionOutcome) -> &'static str {
    match (lang, o) {
        (Lang::It, SessionOutcome::SessionOpen) => "ancora aperta",
        (Lang::It, SessionOutcome::SessionVoted) => "giudizio espresso",
        (Lang::It, SessionOutcome::SessionExpired) => "scaduta senza giudizio",
        (Lang::It, SessionOutcome::SessionSuperseded) => "sostituita da una nuova",
        (Lang::It, SessionOutcome::SessionCancelled) => "annullata",
        (Lang::It, SessionOutcome::SessionKeypadRebooted) => "pulsantiera riavviata",
        (Lang::En, SessionOutcome::SessionOpen) => "still open",
        (Lang::En, SessionOutcome::SessionVoted) => "vote given",
        (Lang::En, SessionOutcome::SessionExpired) => "expired without a vote",
        (Lang::En, SessionOutcome::SessionSuperseded) => "superseded by a new one",
        (Lang::En, SessionOutcome::SessionCancelled) => "cancelled",
        (Lang::En, SessionOutcome::SessionKeypadRebooted) => "keypad rebooted",
        (_, SessionOutcome::Unspecified) => "?",
    }
}

/// The sentence describing one log event. Votes never carry their face, and the `detail` of a
/// vote entry is not shown at all, so that nobody reads one citizen's judgement live.
pub fn describe_event(lang: Lang, e: &faccia_proto::v1::LogEvent) -> String {
    let (counter, service, ticket) = match lang {
        Lang::It => ("sportello", "servizio", "biglietto"),
        Lang::En => ("counter", "service", "ticket"),
    };
    let mut parts: Vec<String> = Vec::new();
    let facts = e.facts.as_ref();
    let at_counter = |parts: &mut Vec<String>| {
        if !e.counter_id.is_empty() {
            parts.push(format!("{counter} {}", e.counter_id));
        }
    };
    match e.kind() {
        LogKind::LogTicketEvent => {
            let verb = ticket_verb(lang, e.ticket_event());
            match e.ticket_event() {
                EventType::CounterOpened | EventType::CounterClosed => {
                    parts.push(verb.to_string());
                    at_counter(&mut parts);
                }
                EventType::DayReset => parts.push(verb.to_string()),
                _ => {
                    let number = if e.display_number.is_empty() {
                        &e.ticket_id
                    } else {
                        &e.display_number
                    };
                    parts.push(format!("{ticket} {number} {verb}"));
                    at_counter(&mut parts);
                    if !e.service_code.is_empty() {
                        parts.push(format!("{service} {}", e.service_code));
                    }
                }
            }
        }
        LogKind::LogSessionOpened => {
            parts.push(match lang {
                Lang::It => "giudizio richiesto".to_string(),
                Lang::En => "vote requested".to_string(),
            });
            at_counter(&mut parts);
            if !e.display_number.is_empty() {
                parts.push(format!("{ticket} {}", e.display_number));
            }
            if let Some(k) = facts.and_then(|f| keypad_state(lang, f.keypad())) {
                parts.push(k.to_string());
            }
        }
        LogKind::LogSessionEnded => {
            parts.push(match lang {
                Lang::It => format!("sessione chiusa: {}", outcome(lang, e.outcome())),
                Lang::En => format!("session ended: {}", outcome(lang, e.outcome())),
            });
            at_counter(&mut parts);
            if let Some(why) = facts.and_then(|f| reason(lang, f.reason())) {
                parts.push(why.to_string());
            }
        }
        LogKind::LogVoteRecorded => {
            parts.push(match lang {
                Lang::It => "giudizio registrato".to_string(),
                Lang::En => "vote recorded".to_string(),
            });
            at_counter(&mut parts);
        }
        LogKind::LogOrphanVote => {
            parts.push(match lang {
                Lang::It => "giudizio senza sessione, non conteggiato".to_string(),
                Lang::En => "vote without a session, not counted".to_string(),
            });
            at_counter(&mut parts);
            if let Some(why) = facts.and_then(|f| reason(lang, f.reason())) {
                parts.push(why.to_string());
            }
        }
        LogKind::LogCounter => {
            let verb = match e.ticket_event() {
                EventType::CounterOpened | EventType::CounterClosed => {
                    ticket_verb(lang, e.ticket_event())
                }
                _ => log_kind(lang, LogKind::LogCounter),
            };
            parts.push(verb.to_string());
            at_counter(&mut parts);
        }
        LogKind::LogDayReset => {
            parts.push(match lang {
                Lang::It => "nuova giornata: contatori azzerati".to_string(),
                Lang::En => "new day: counts reset".to_string(),
            });
            if let Some(f) = facts {
                parts.push(match lang {
                    Lang::It => format!(
                        "{} biglietti aperti chiusi, {} sessioni annullate",
                        f.tickets_closed, f.sessions_cancelled
                    ),
                    Lang::En => format!(
                        "{} open tickets closed, {} sessions cancelled",
                        f.tickets_closed, f.sessions_cancelled
                    ),
                });
            }
        }
        LogKind::LogReconcile => {
            parts.push(match lang {
                Lang::It => "riallineamento con l'eliminacode".to_string(),
                Lang::En => "reconciled with the queue system".to_string(),
            });
            if !e.source_id.is_empty() {
                parts.push(e.source_id.clone());
            }
            at_counter(&mut parts);
            if let Some(f) = facts {
                let ticket_word = ticket;
                let state = |open: bool, ticket: &str| {
                    let word = match (lang, open) {
                        (Lang::It, true) => "aperto",
                        (Lang::It, false) => "chiuso",
                        (Lang::En, true) => "open",
                        (Lang::En, false) => "closed",
                    };
                    if ticket.is_empty() {
                        word.to_string()
                    } else {
                        format!("{word} ({ticket_word} {ticket})")
                    }
                };
                let (was, now) = match lang {
                    Lang::It => ("era", "ora"),
                    Lang::En => ("was", "now"),
                };
                parts.push(format!(
                    "{was} {}, {now} {}",
                    state(f.was_open, &f.was_ticket),
                    state(f.now_open, &e.ticket_id)
                ));
            }
        }
        LogKind::LogKeypad => {
            parts.push(match lang {
                Lang::It => format!("pulsantiera {counter} {}", e.counter_id),
                Lang::En => format!("keypad at {counter} {}", e.counter_id),
            });
            if let Some(f) = facts {
                match f.reason() {
                    LogReason::ReasonKeypadArming => {
                        let k = match (lang, f.keypad()) {
                            (Lang::It, KeypadState::Armed) => Some("accesa per il giudizio"),
                            (Lang::It, KeypadState::Pending) => Some("in attesa di accendersi"),
                            (Lang::En, KeypadState::Armed) => Some("lit for the vote"),
                            (Lang::En, KeypadState::Pending) => Some("waiting to light up"),
                            _ => keypad_state(lang, f.keypad()),
                        };
                        parts.extend(k.map(str::to_string));
                    }
                    LogReason::ReasonKeypadOnline if !f.serial_no.is_empty() => {
                        parts.push(match lang {
                            Lang::It => format!(
                                "raggiungibile (matricola {}, firmware {})",
                                f.serial_no, f.firmware
                            ),
                            Lang::En => {
                                format!("online (serial {}, firmware {})", f.serial_no, f.firmware)
                            }
                        });
                    }
                    LogReason::ReasonKeypadRebooted => parts.push(match lang {
                        Lang::It => format!("riavviata (avvio n. {})", f.boot_count),
                        Lang::En => format!("rebooted (boot {})", f.boot_count),
                    }),
                    other => {
                        if let Some(why) = reason(lang, other) {
                            parts.push(why.to_string());
                        }
                    }
                }
            }
        }
        LogKind::Unspecified => parts.push("?".to_string()),
    }
    // The server's free-text `detail` is its own English note: it is never shown nor read.
    parts.join(", ")
}

/// What a counter's keypad does for a session.
pub fn keypad_state(lang: Lang, k: KeypadState) -> Option<&'static str> {
    Some(match (lang, k) {
        (Lang::It, KeypadState::Armed) => "pulsantiera accesa",
        (Lang::It, KeypadState::Pending) => "pulsantiera in attesa",
        (Lang::It, KeypadState::NoKeypad) => "nessuna pulsantiera",
        (Lang::En, KeypadState::Armed) => "keypad lit",
        (Lang::En, KeypadState::Pending) => "keypad pending",
        (Lang::En, KeypadState::NoKeypad) => "no keypad",
        (_, KeypadState::Unspecified) => return None,
    })
}

/// Why something in the log happened.
pub fn reason(lang: Lang, r: LogReason) -> Option<&'static str> {
    Some(match (lang, r) {
        (Lang::It, LogReason::ReasonNextCalled) => "chiamato il biglietto successivo",
        (Lang::It, LogReason::ReasonNextServed) => "servito il biglietto successivo",
        (Lang::It, LogReason::ReasonOtherCalledFirst) => {
            "allo sportello era già stato chiamato un altro biglietto"
        }
        (Lang::It, LogReason::ReasonLaterSessionOpen) => {
            "allo sportello è aperta la sessione di un biglietto successivo"
        }
        (Lang::It, LogReason::ReasonDayReset) => "azzeramento giornaliero",
        (Lang::It, LogReason::ReasonWindowRanOut) => "tempo per il giudizio scaduto",
        (Lang::It, LogReason::ReasonNoSession) => "nessuna sessione corrisponde",
        (Lang::It, LogReason::ReasonOtherCounter) => "la sessione è di un altro sportello",
        (Lang::It, LogReason::ReasonNeverArmed) => {
            "la sessione era finita senza che la pulsantiera si accendesse"
        }
        (Lang::It, LogReason::ReasonKeypadOnline) => "raggiungibile",
        (Lang::It, LogReason::ReasonKeypadOffline) => "non raggiungibile",
        (Lang::It, LogReason::ReasonKeypadRebooted) => "riavviata",
        (Lang::It, LogReason::ReasonRemoteEnded) => "la sessione (web o telefono) era già finita",
        (Lang::En, LogReason::ReasonNextCalled) => "the next ticket was called",
        (Lang::En, LogReason::ReasonNextServed) => "the next ticket was served",
        (Lang::En, LogReason::ReasonOtherCalledFirst) => {
            "another ticket had already been called at the counter"
        }
        (Lang::En, LogReason::ReasonLaterSessionOpen) => {
            "a later ticket's session is open at the counter"
        }
        (Lang::En, LogReason::ReasonDayReset) => "daily reset",
        (Lang::En, LogReason::ReasonWindowRanOut) => "the vote window ran out",
        (Lang::En, LogReason::ReasonNoSession) => "it matches no session",
        (Lang::En, LogReason::ReasonOtherCounter) => "the session is another counter's",
        (Lang::En, LogReason::ReasonNeverArmed) => "the session ended and was never armed",
        (Lang::En, LogReason::ReasonKeypadOnline) => "online",
        (Lang::En, LogReason::ReasonKeypadOffline) => "offline",
        (Lang::En, LogReason::ReasonKeypadRebooted) => "rebooted",
        (Lang::En, LogReason::ReasonRemoteEnded) => "the web or phone session had already ended",
        (_, LogReason::ReasonKeypadArming | LogReason::Unspecified) => return None,
    })
}

/// What a keypad command did.
pub fn keypad_result(lang: Lang, r: KeypadCommandResult) -> &'static str {
    match (lang, r) {
        (Lang::It, KeypadCommandResult::KeypadBlinking) => {
            "Identificazione: la pulsantiera lampeggia per 10 s"
        }
        (Lang::It, KeypadCommandResult::KeypadSelfTestStarted) => {
            "Autotest avviato: le luci si accendono a turno; i guasti vengono aggiornati"
        }
        (Lang::It, KeypadCommandResult::Unspecified) => "Comando eseguito",
        (Lang::En, KeypadCommandResult::KeypadBlinking) => "Identify: the keypad blinks for 10 s",
        (Lang::En, KeypadCommandResult::KeypadSelfTestStarted) => {
            "Self-test started: each light turns on in turn; faults are updated"
        }
        (Lang::En, KeypadCommandResult::Unspecified) => "Command done",
    }
}

/// The label of a help line.
pub fn action(lang: Lang, a: Action) -> &'static str {
    match (lang, a) {
        (Lang::It, Action::Quit) => "esci",
        (Lang::It, Action::NextView) => "vista successiva",
        (Lang::It, Action::PrevView) => "vista precedente",
        (Lang::It, Action::ViewOverview) => "panoramica",
        (Lang::It, Action::ViewQueues) => "code",
        (Lang::It, Action::ViewSatisfaction) => "gradimento",
        (Lang::It, Action::ViewKeypads) => "terminali",
        (Lang::It, Action::ViewEvents) => "eventi",
        (Lang::It, Action::ViewReports) => "rapporti",
        (Lang::It, Action::ViewSites) => "tutte le sedi, affiancate",
        (Lang::It, Action::ChooseSite) => "scegli la sede",
        (Lang::It, Action::OpenSite) => "apri la sede selezionata (tutte le sedi)",
        (Lang::It, Action::Up) => "su",
        (Lang::It, Action::Down) => "giù",
        (Lang::It, Action::PageUp) => "pagina su",
        (Lang::It, Action::PageDown) => "pagina giù",
        (Lang::It, Action::Top) => "inizio",
        (Lang::It, Action::Bottom) => "fine",
        (Lang::It, Action::Filter) => "filtra",
        (Lang::It, Action::ClearFilter) => "togli il filtro / chiudi",
        (Lang::It, Action::Help) => "aiuto",
        (Lang::It, Action::Alerts) => "tutti gli avvisi",
        (Lang::It, Action::PrevPeriod) => "periodo precedente (gradimento) / mese (rapporti)",
        (Lang::It, Action::NextPeriod) => "periodo successivo (gradimento) / mese (rapporti)",
        (Lang::It, Action::Identify) => "fai lampeggiare la pulsantiera (admin)",
        (Lang::It, Action::SelfTest) => "autotest della pulsantiera (admin)",
        (Lang::It, Action::SaveHtml) => "salva la pagina HTML del mese (rapporti)",
        (Lang::It, Action::SaveCsv) => "salva il CSV del mese (rapporti)",
        (Lang::It, Action::SaveMinistry) => {
            "salva l'export per il Ministero, da gennaio (rapporti)"
        }
        (Lang::It, Action::SaveAnnual) => "salva la relazione annuale HTML dell'anno (rapporti)",
        (Lang::It, Action::Refresh) => "aggiorna ora",
        (Lang::En, Action::Quit) => "quit",
        (Lang::En, Action::NextView) => "next view",
        (Lang::En, Action::PrevView) => "previous view",
        (Lang::En, Action::ViewOverview) => "overview",
        (Lang::En, Action::ViewQueues) => "queues",
        (Lang::En, Action::ViewSatisfaction) => "satisfaction",
        (Lang::En, Action::ViewKeypads) => "keypads",
        (Lang::En, Action::ViewEvents) => "events",
        (Lang::En, Action::ViewReports) => "reports",
        (Lang::En, Action::ViewSites) => "all offices, side by side",
        (Lang::En, Action::ChooseSite) => "choose the office",
        (Lang::En, Action::OpenSite) => "open the selected office (all offices)",
        (Lang::En, Action::Up) => "up",
        (Lang::En, Action::Down) => "down",
        (Lang::En, Action::PageUp) => "page up",
        (Lang::En, Action::PageDown) => "page down",
        (Lang::En, Action::Top) => "first",
        (Lang::En, Action::Bottom) => "last",
        (Lang::En, Action::Filter) => "filter",
        (Lang::En, Action::ClearFilter) => "clear filter / close",
        (Lang::En, Action::Help) => "help",
        (Lang::En, Action::Alerts) => "all alerts",
        (Lang::En, Action::PrevPeriod) => "previous period (satisfaction) / month (reports)",
        (Lang::En, Action::NextPeriod) => "next period (satisfaction) / month (reports)",
        (Lang::En, Action::Identify) => "blink the keypad (admin)",
        (Lang::En, Action::SelfTest) => "keypad self-test (admin)",
        (Lang::En, Action::SaveHtml) => "save the month's HTML page (reports)",
        (Lang::En, Action::SaveCsv) => "save the month's CSV (reports)",
        (Lang::En, Action::SaveMinistry) => "save the Ministry export, from January (reports)",
        (Lang::En, Action::SaveAnnual) => "save the year's annual review, HTML (reports)",
        (Lang::En, Action::Refresh) => "refresh now",
    }
}

/// The confirmation question before a keypad command.
pub fn confirm_keypad(lang: Lang, action: KeypadAction, counter: &str) -> String {
    let yn = tr(lang).confirm_yes_no;
    match (lang, action) {
        (Lang::It, KeypadAction::KeypadSelfTest) => format!(
            "Eseguire l'autotest della pulsantiera dello sportello {counter}? Le luci si accendono a turno per qualche secondo; il voto in corso non cambia. {yn}"
        ),
        (Lang::It, _) => format!(
            "Far lampeggiare per 10 s la pulsantiera dello sportello {counter}? {yn}"
        ),
        (Lang::En, KeypadAction::KeypadSelfTest) => format!(
            "Run the self-test of the keypad at counter {counter}? Each light turns on in turn for a few seconds; a vote in progress is not changed. {yn}"
        ),
        (Lang::En, _) => format!("Blink the keypad at counter {counter} for 10 s? {yn}"),
    }
}

/// What an alert is about, named for people: "sportello 3", "servizio A", or the office.
pub fn alert_subject(lang: Lang, kind: AlertKind, subject: &str, is_service: bool) -> String {
    let office = match lang {
        Lang::It => "ufficio",
        Lang::En => "office",
    };
    if subject.is_empty() {
        return office.to_string();
    }
    match (lang, kind, is_service) {
        (Lang::It, AlertKind::AlertKeypadOffline | AlertKind::AlertIgnoredPresses, _) => {
            format!("pulsantiera dello sportello {subject}")
        }
        (Lang::En, AlertKind::AlertKeypadOffline | AlertKind::AlertIgnoredPresses, _) => {
            format!("keypad at counter {subject}")
        }
        (Lang::It, _, true) => format!("servizio {subject}"),
        (Lang::En, _, true) => format!("service {subject}"),
        (Lang::It, _, false) => format!("sportello {subject}"),
        (Lang::En, _, false) => format!("counter {subject}"),
    }
}

/// An alert as a sentence. `what` is [`alert_subject`], `since` a local time ("10:58") or empty,
/// `value` and `threshold` already formatted in the language.
pub fn alert_text(
    lang: Lang,
    kind: AlertKind,
    what: &str,
    since: &str,
    value: &str,
    threshold: &str,
) -> String {
    let since_it = if since.is_empty() {
        String::new()
    } else {
        format!(" dalle {since}")
    };
    let since_en = if since.is_empty() {
        String::new()
    } else {
        format!(" since {since}")
    };
    let what_cap = capitalize(what);
    match (lang, kind) {
        (Lang::It, AlertKind::AlertKeypadOffline) => {
            format!("{what_cap} non raggiungibile{since_it}")
        }
        (Lang::En, AlertKind::AlertKeypadOffline) => format!("{what_cap} offline{since_en}"),
        (Lang::It, AlertKind::AlertWaitOverStandard) => format!(
            "{what_cap}: attesa di {value} min, oltre lo standard di {threshold} min{since_it}"
        ),
        (Lang::En, AlertKind::AlertWaitOverStandard) => {
            format!("{what_cap}: {value} min wait, over the {threshold} min standard{since_en}")
        }
        (Lang::It, AlertKind::AlertRedShare) => format!(
            "{what_cap}: {value}% di giudizi rossi negli ultimi 15 minuti (soglia {threshold}%)"
        ),
        (Lang::En, AlertKind::AlertRedShare) => format!(
            "{what_cap}: {value}% red votes in the last 15 minutes (threshold {threshold}%)"
        ),
        (Lang::It, AlertKind::AlertIgnoredPresses) => {
            format!("{what_cap}: {value} pressioni ignorate (soglia {threshold}){since_it}")
        }
        (Lang::En, AlertKind::AlertIgnoredPresses) => {
            format!("{what_cap}: {value} ignored presses (threshold {threshold}){since_en}")
        }
        (Lang::It, AlertKind::AlertUnconfigured) => {
            format!("{what_cap} usato dall'eliminacode ma non configurato in faccia.toml")
        }
        (Lang::En, AlertKind::AlertUnconfigured) => {
            format!("{what_cap} used by the queue system but not configured in faccia.toml")
        }
        (Lang::It, AlertKind::Unspecified) => format!("{what_cap}: avviso ({value})"),
        (Lang::En, AlertKind::Unspecified) => format!("{what_cap}: alert ({value})"),
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A month as people write it: "novembre 2026" / "November 2026".
pub fn month(lang: Lang, m: YearMonth) -> String {
    format!("{} {}", m.name(lang), m.year)
}

/// A month from the wire ("2026-10"), or the text as it came when it is not one.
pub fn month_text(lang: Lang, s: &str) -> String {
    s.parse::<YearMonth>()
        .map_or_else(|_| s.to_string(), |m| month(lang, m))
}

/// A channel's name (COUNTER, PHONE, WEB), or the code as it came.
pub fn channel(lang: Lang, code: &str) -> String {
    let t = tr(lang);
    match code.to_ascii_uppercase().as_str() {
        "COUNTER" => t.channels[0].to_string(),
        "PHONE" | "TELEPHONE" => t.channels[1].to_string(),
        "WEB" => t.channels[2].to_string(),
        _ => code.to_string(),
    }
}

/// What a document is, with its months: "la pagina per il sito di novembre 2026".
pub fn document(lang: Lang, doc: ReportDoc) -> String {
    let t = tr(lang);
    let of = match lang {
        Lang::It => "di",
        Lang::En => "for",
    };
    match doc {
        ReportDoc::MonthlyHtml(m) => format!("{} {of} {}", t.docs[0], month(lang, m)),
        ReportDoc::MonthlyCsv(m) => format!("{} {of} {}", t.docs[1], month(lang, m)),
        ReportDoc::Ministry { from, to } => {
            format!("{} ({from} – {to})", t.docs[2])
        }
        ReportDoc::AnnualHtml(year) => format!("{} {year}", t.docs[3]),
    }
}

/// "Salvataggio in corso: la pagina per il sito di novembre 2026…".
pub fn saving(lang: Lang, doc: ReportDoc) -> String {
    format!("{}: {}…", tr(lang).saving, document(lang, doc))
}

/// "Salvato in /srv/www/faccia-2026-11.html".
pub fn saved(lang: Lang, _doc: ReportDoc, path: &str) -> String {
    match lang {
        Lang::It => format!("{} in {path}", tr(lang).saved),
        Lang::En => format!("{} to {path}", tr(lang).saved),
    }
}

/// Why a document could not be saved, with the server's or the system's words.
pub fn save_failed(lang: Lang, doc: ReportDoc, e: &SaveError) -> String {
    let t = tr(lang);
    let why = match e {
        SaveError::Api(api) => report_error(lang, api),
        SaveError::Empty => t.empty_document.to_string(),
        SaveError::Io { path, message } if path.is_empty() => message.clone(),
        SaveError::Io { path, message } => format!("{path}: {message}"),
    };
    format!("{} ({}): {why}", t.save_failed, document(lang, doc))
}

/// The help line of the three save keys.
pub fn save_keys(lang: Lang) -> &'static str {
    match lang {
        Lang::It => "salva (rapporti): pagina HTML · CSV · Ministero · annuale",
        Lang::En => "save (reports): HTML page · CSV · Ministry · annual",
    }
}

/// An error of the Reports API: as the console's other API errors, except that reports need
/// the viewer role, not admin.
pub fn report_error(lang: Lang, e: &ApiError) -> String {
    match e.kind {
        ApiErrorKind::PermissionDenied => tr(lang).err_permission_reports.to_string(),
        _ => e.describe(lang),
    }
}
