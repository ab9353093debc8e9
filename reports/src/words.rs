//! Number formats, labels and the summary sentence, in Italian and English.

use faccia_domain::figures::{
    format_decimal, format_int, format_points, format_share, format_signed_int,
};
use faccia_domain::{Lang, Share};

use crate::model::{Faces, MonthFigures, MonthTotals};
use crate::period::YearMonth;

pub use faccia_domain::figures::DASH;

/// An integer with thousands separators (`faccia_domain::figures::format_int`).
pub fn int(n: u64, lang: Lang) -> String {
    format_int(n, lang)
}

/// A signed integer change: `+12`, `−3`, `0`.
pub fn signed_int(n: i64, lang: Lang) -> String {
    format_signed_int(n, lang)
}

/// A share with its percent sign (`94,4%`), or a dash. Always through `Share::format`.
pub fn pct(share: Option<Share>, lang: Lang) -> String {
    match share {
        Some(_) => format_share(share, lang),
        None => DASH.to_string(),
    }
}

/// A share without the percent sign, for CSV cells; empty when it does not exist.
pub fn pct_cell(share: Option<Share>, lang: Lang) -> String {
    share.map(|s| s.format(lang)).unwrap_or_default()
}

/// A change in tenths of a percentage point: `+1,2`, `−0,4`, `0,0`; a dash when unknown.
pub fn points(tenths: Option<i64>, lang: Lang) -> String {
    format_points(tenths, lang)
}

/// Milliseconds as minutes with one decimal (`12,5`), or a dash.
pub fn minutes(ms: Option<f64>, lang: Lang) -> String {
    match ms {
        Some(v) => format_decimal(v / 60_000.0, 1, lang),
        None => DASH.to_string(),
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// The sentence municipalities publish, e.g. "Nel mese di luglio sono stati 352 gli utenti
/// serviti; 270 hanno espresso un giudizio: 255 positivi (94,4%), 11 neutri e 4 negativi."
pub fn summary_sentence(m: &MonthFigures, lang: Lang) -> String {
    summary_of(m.month, m.served, &m.faces, lang)
}

/// The same sentence for a month's totals (the body's: the sums of its offices).
pub fn totals_summary_sentence(t: &MonthTotals, lang: Lang) -> String {
    summary_of(t.month, t.served, &t.faces, lang)
}

fn summary_of(month: YearMonth, served: u64, f: &Faces, lang: Lang) -> String {
    let month = month.name(lang);
    match lang {
        Lang::It => {
            let served = match served {
                0 => "non ci sono stati utenti serviti".to_string(),
                1 => "è stato 1 l'utente servito".to_string(),
                n => format!("sono stati {} gli utenti serviti", int(n, lang)),
            };
            let votes = match f.votes {
                0 => {
                    return format!(
                        "Nel mese di {month} {served}; nessuno ha espresso un giudizio."
                    )
                }
                1 => "1 ha espresso un giudizio".to_string(),
                n => format!("{} hanno espresso un giudizio", int(n, lang)),
            };
            format!(
                "Nel mese di {month} {served}; {votes}: {} {} ({}), {} {} e {} {}.",
                int(f.green, lang),
                plural(f.green, "positivo", "positivi"),
                pct(f.green_share(), lang),
                int(f.yellow, lang),
                plural(f.yellow, "neutro", "neutri"),
                int(f.red, lang),
                plural(f.red, "negativo", "negativi"),
            )
        }
        Lang::En => {
            let served = match served {
                0 => "no users were served".to_string(),
                1 => "1 user was served".to_string(),
                n => format!("{} users were served", int(n, lang)),
            };
            let votes = match f.votes {
                0 => return format!("In {month} {served}; nobody gave a judgement."),
                n => format!("{} gave a judgement", int(n, lang)),
            };
            format!(
                "In {month} {served}; {votes}: {} positive ({}), {} neutral and {} negative.",
                int(f.green, lang),
                pct(f.green_share(), lang),
                int(f.yellow, lang),
                int(f.red, lang),
            )
        }
    }
}

/// The participation sentence: "Partecipazione: 76,7% (giudizi espressi / utenti serviti)."
pub fn participation_sentence(m: &MonthFigures, lang: Lang) -> String {
    participation_of(m.participation(), lang)
}

/// The same sentence for a month's totals.
pub fn totals_participation_sentence(t: &MonthTotals, lang: Lang) -> String {
    participation_of(t.participation(), lang)
}

fn participation_of(share: Option<Share>, lang: Lang) -> String {
    match (share, lang) {
        (Some(p), Lang::It) => format!(
            "Partecipazione: {} (giudizi espressi / utenti serviti).",
            pct(Some(p), lang)
        ),
        (Some(p), Lang::En) => format!(
            "Participation: {} (judgements / users served).",
            pct(Some(p), lang)
        ),
        (None, Lang::It) => "Partecipazione non calcolabile: nessun utente servito.".to_string(),
        (None, Lang::En) => "Participation cannot be computed: no users served.".to_string(),
    }
}

/// Labels of tables and headings.
pub struct Labels {
    pub monthly_title: &'static str,
    pub annual_title: &'static str,
    pub served: &'static str,
    pub votes: &'static str,
    pub participation: &'static str,
    pub green: &'static str,
    pub yellow: &'static str,
    pub red: &'static str,
    pub reasons: [&'static str; 4],
    pub no_reason: &'static str,
    pub reasons_title: &'static str,
    pub by_counter: &'static str,
    pub by_service: &'static str,
    pub by_channel: &'static str,
    pub counter: &'static str,
    pub service: &'static str,
    pub channel: &'static str,
    pub waiting_title: &'static str,
    pub avg_wait: &'static str,
    pub p90_wait: &'static str,
    pub standard: &'static str,
    pub within: &'static str,
    pub counted: &'static str,
    pub left_out: &'static str,
    pub change_title: &'static str,
    pub previous_month: &'static str,
    pub this_month: &'static str,
    pub change: &'static str,
    pub points: &'static str,
    pub month: &'static str,
    pub year: &'static str,
    pub standards_title: &'static str,
    pub met: &'static str,
    pub not_met: &'static str,
    pub no_data: &'static str,
    pub unconfigured: &'static str,
    pub channels: [(&'static str, &'static str); 3],
    pub minutes: &'static str,
    pub target: &'static str,
    pub left_out_note: &'static str,
    pub total: &'static str,
    pub trend_title: &'static str,
    pub satisfaction_title: &'static str,
    pub number: &'static str,
    pub standard_word: &'static str,
    pub no_standard: &'static str,
    pub target_line: &'static str,
    /// Reports of the body (several offices).
    pub all_offices: &'static str,
    pub office: &'static str,
    pub by_office: &'static str,
    pub reasons_by_office: &'static str,
    pub green_by_office: &'static str,
    pub office_detail: &'static str,
    pub time_zones_note: &'static str,
}

pub const IT: Labels = Labels {
    monthly_title: "Mettiamoci la faccia: risultati del mese",
    annual_title: "Mettiamoci la faccia: risultati dell'anno",
    served: "Utenti serviti",
    votes: "Giudizi",
    participation: "Partecipazione",
    green: "Positivi",
    yellow: "Neutri",
    red: "Negativi",
    reasons: [
        "Tempo di attesa",
        "Comportamento del personale",
        "Ho dovuto tornare",
        "Esito negativo",
    ],
    no_reason: "Senza motivo",
    reasons_title: "Motivi dei giudizi negativi",
    by_counter: "Per sportello",
    by_service: "Per servizio",
    by_channel: "Per canale",
    counter: "Sportello",
    service: "Servizio",
    channel: "Canale",
    waiting_title: "Tempi di attesa per servizio",
    avg_wait: "Attesa media (min)",
    p90_wait: "90° percentile (min)",
    standard: "Standard (min)",
    within: "Entro lo standard",
    counted: "Biglietti considerati",
    left_out: "Esclusi",
    change_title: "Confronto con il mese precedente",
    previous_month: "Mese precedente",
    this_month: "Questo mese",
    change: "Variazione",
    points: "punti",
    month: "Mese",
    year: "Anno",
    standards_title: "Verifica degli standard della Carta dei servizi",
    met: "rispettato",
    not_met: "non rispettato",
    no_data: "nessun dato",
    unconfigured: "non configurato",
    channels: [("COUNTER", "Sportello"), ("WEB", "Web"), ("PHONE", "Telefono")],
    minutes: "min",
    target: "Obiettivo",
    left_out_note: "I ticket a cavallo della mezzanotte o di un azzeramento giornaliero sono esclusi dalle medie.",
    total: "Totale",
    trend_title: "Andamento mensile",
    satisfaction_title: "Giudizi espressi",
    number: "Numero",
    standard_word: "standard",
    no_standard: "nessuno standard",
    target_line: "linea tratteggiata",
    all_offices: "Tutti gli uffici",
    office: "Ufficio",
    by_office: "Per ufficio",
    reasons_by_office: "Motivi dei giudizi negativi per ufficio",
    green_by_office: "Giudizi positivi per ufficio",
    office_detail: "Dettaglio per ufficio",
    time_zones_note: "Ogni ufficio conta giorni e mesi nel proprio fuso orario",
};

pub const EN: Labels = Labels {
    monthly_title: "Mettiamoci la faccia: monthly results",
    annual_title: "Mettiamoci la faccia: yearly results",
    served: "Users served",
    votes: "Judgements",
    participation: "Participation",
    green: "Positive",
    yellow: "Neutral",
    red: "Negative",
    reasons: [
        "Waiting time",
        "Staff behaviour",
        "Had to come back",
        "Negative outcome",
    ],
    no_reason: "No reason",
    reasons_title: "Reasons for negative judgements",
    by_counter: "By counter",
    by_service: "By service",
    by_channel: "By channel",
    counter: "Counter",
    service: "Service",
    channel: "Channel",
    waiting_title: "Waiting time by service",
    avg_wait: "Average wait (min)",
    p90_wait: "90th percentile (min)",
    standard: "Standard (min)",
    within: "Within standard",
    counted: "Tickets counted",
    left_out: "Left out",
    change_title: "Change from the previous month",
    previous_month: "Previous month",
    this_month: "This month",
    change: "Change",
    points: "points",
    month: "Month",
    year: "Year",
    standards_title: "Review of the service charter's standards",
    met: "met",
    not_met: "not met",
    no_data: "no data",
    unconfigured: "not configured",
    channels: [("COUNTER", "Counter"), ("WEB", "Web"), ("PHONE", "Phone")],
    minutes: "min",
    target: "Target",
    left_out_note: "Tickets spanning midnight or a daily reset are left out of the averages.",
    total: "Total",
    trend_title: "Month by month",
    satisfaction_title: "Judgements",
    number: "Count",
    standard_word: "standard",
    no_standard: "no standard",
    target_line: "dashed line",
    all_offices: "All offices",
    office: "Office",
    by_office: "By office",
    reasons_by_office: "Reasons for negative judgements by office",
    green_by_office: "Positive judgements by office",
    office_detail: "Office by office",
    time_zones_note: "Each office counts days and months in its own time zone",
};

pub fn labels(lang: Lang) -> &'static Labels {
    match lang {
        Lang::It => &IT,
        Lang::En => &EN,
    }
}

/// A group's display name: the configured name, the channel's name, or the code marked as
/// not configured.
pub fn group_name(code: &str, name: Option<&str>, is_channel: bool, lang: Lang) -> String {
    let l = labels(lang);
    if is_channel {
        if let Some((_, n)) = l.channels.iter().find(|(c, _)| *c == code) {
            return (*n).to_string();
        }
    }
    match name {
        Some(n) => n.to_string(),
        None => format!("{code} ({})", l.unconfigured),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(int(1_234_567, Lang::It), "1.234.567");
        assert_eq!(int(352, Lang::It), "352");
        assert_eq!(int(1000, Lang::En), "1,000");
        assert_eq!(points(Some(-4), Lang::It), "\u{2212}0,4");
        assert_eq!(points(Some(12), Lang::En), "+1.2");
        assert_eq!(points(None, Lang::En), DASH);
        assert_eq!(minutes(Some(750_000.0), Lang::It), "12,5");
        assert_eq!(signed_int(-1200, Lang::It), "\u{2212}1.200");
    }
}

/// The published page's note on when its figures were computed, and whether the month is still
/// in progress (its figures then grow until the month ends). `now` and the month's bounds are
/// in milliseconds; the time is shown in the office's time zone.
pub fn computed_note(
    month_end: faccia_domain::Millis,
    now: faccia_domain::Millis,
    tz: chrono_tz::Tz,
    lang: Lang,
) -> String {
    use chrono::TimeZone;
    let at = match tz.timestamp_millis_opt(now).single() {
        Some(t) => t,
        None => return String::new(),
    };
    let (date, time) = (at.format("%d/%m/%Y"), at.format("%H:%M"));
    match (now < month_end, lang) {
        (true, Lang::It) => format!(
            "Mese in corso: dati parziali, calcolati il {date} alle {time}; il mese si chiude con l'ultimo giorno."
        ),
        (true, Lang::En) => format!(
            "Month in progress: partial figures, computed on {date} at {time}; the month closes with its last day."
        ),
        (false, Lang::It) => format!("Dati calcolati il {date} alle {time}."),
        (false, Lang::En) => format!("Figures computed on {date} at {time}."),
    }
}

#[cfg(test)]
mod computed_note_tests {
    use super::*;

    #[test]
    fn a_running_month_says_so_and_when() {
        let tz = chrono_tz::Europe::Rome;
        // 2026-12-02 12:00 UTC = 13:00 in Rome; December ends on 2027-01-01 00:00 in Rome
        let now = 1_796_212_800_000;
        let end = 1_798_758_000_000;
        let it = computed_note(end, now, tz, Lang::It);
        assert_eq!(
            it,
            "Mese in corso: dati parziali, calcolati il 02/12/2026 alle 13:00; il mese si chiude con l'ultimo giorno."
        );
        assert!(computed_note(end, now, tz, Lang::En).starts_with("Month in progress"));
        assert_eq!(
            computed_note(now - 1, now, tz, Lang::It),
            "Dati calcolati il 02/12/2026 alle 13:00."
        );
    }
}
