//! The vote pages: plain HTML forms (no script), Italian first and English, the same-origin
//! stylesheet. Every text a citizen reads is here.

use faccia_domain::Lang;

/// What the page says about the service being judged.
pub struct About {
    pub office: String,
    pub service: String,
    pub counter: String,
    /// The day of the service, as the office writes it (dd/mm/yyyy).
    pub day: String,
    /// Until when the link takes a vote (dd/mm/yyyy hh:mm, office time).
    pub until: String,
}

/// The words of one language.
pub struct Words {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub switch_label: &'static str,
    pub question: &'static str,
    pub service: &'static str,
    pub counter: &'static str,
    pub day: &'static str,
    pub until: &'static str,
    pub faces_legend: &'static str,
    pub faces: [&'static str; 3],
    pub once_note: &'static str,
    pub reasons_title: &'static str,
    pub reasons_intro: &'static str,
    pub reasons_legend: &'static str,
    pub reasons: [&'static str; 4],
    pub no_reason: &'static str,
    pub back: &'static str,
    pub stars_question: &'static str,
    pub stars_legend: &'static str,
    pub star_labels: [&'static str; 5],
    pub next: &'static str,
    pub send: &'static str,
    pub stars_missing: &'static str,
    pub follow_low: &'static str,
    pub follow_high: &'static str,
    pub follow_low_options: [&'static str; 5],
    pub follow_high_options: [&'static str; 5],
    pub details: &'static str,
    pub details_hint: &'static str,
    pub optional: &'static str,
    pub thanks_title: &'static str,
    pub thanks_body: &'static str,
    pub already_title: &'static str,
    pub already_body: &'static str,
    pub expired_title: &'static str,
    pub expired_body: &'static str,
    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub bad_title: &'static str,
    pub bad_body: &'static str,
    pub privacy: &'static str,
    pub programme: &'static str,
}

pub const IT: Words = Words {
    lang: "it",
    other_lang: "en",
    other_lang_name: "English",
    switch_label: "Lingua",
    question: "Come giudica il servizio che ha ricevuto?",
    service: "Servizio",
    counter: "Sportello",
    day: "Data",
    until: "Si può votare fino al",
    faces_legend: "Il suo giudizio",
    faces: ["Soddisfatto", "Sufficiente", "Insoddisfatto"],
    once_note: "Si vota una volta sola per ogni servizio ricevuto.",
    reasons_title: "Perché è insoddisfatto?",
    reasons_intro: "Scelga il motivo principale. Il giudizio viene registrato quando sceglie.",
    reasons_legend: "Motivo principale",
    reasons: [
        "Tempo di attesa",
        "Comportamento del personale",
        "Ho dovuto tornare",
        "Esito negativo",
    ],
    no_reason: "Preferisco non indicarlo",
    back: "Torna ai tre giudizi",
    stars_question: "Quanto è soddisfatto del servizio?",
    stars_legend: "Valuti da 1 a 5 stelle",
    star_labels: [
        "1 stella su 5",
        "2 stelle su 5",
        "3 stelle su 5",
        "4 stelle su 5",
        "5 stelle su 5",
    ],
    next: "Avanti",
    send: "Invia il giudizio",
    stars_missing: "Scelga da 1 a 5 stelle per andare avanti.",
    follow_low: "Dove ha incontrato le maggiori difficoltà?",
    follow_high: "Quali sono stati gli aspetti che ha preferito?",
    follow_low_options: [
        "A volte le indicazioni non erano chiare",
        "A volte le indicazioni non erano complete",
        "A volte non capivo se stavo procedendo correttamente",
        "Ho avuto problemi tecnici",
        "Altro",
    ],
    follow_high_options: [
        "Le indicazioni erano chiare",
        "Le indicazioni erano complete",
        "Capivo sempre se stavo procedendo correttamente",
        "Non ho avuto problemi tecnici",
        "Altro",
    ],
    details: "Vuole aggiungere altri dettagli?",
    details_hint: "Al massimo 200 caratteri. Non scriva dati personali.",
    optional: "facoltativo",
    thanks_title: "Grazie!",
    thanks_body: "Il giudizio è stato registrato. Ci aiuta a migliorare i servizi.",
    already_title: "Giudizio già espresso",
    already_body: "Per questo servizio è già stato espresso un giudizio: se ne può dare uno solo. Grazie per la partecipazione.",
    expired_title: "Il tempo per votare è scaduto",
    expired_body: "Questo collegamento non accetta più giudizi: vale per un tempo limitato dopo la fine del servizio. Potrà esprimere un giudizio la prossima volta.",
    not_found_title: "Collegamento non valido",
    not_found_body: "Questo indirizzo non corrisponde a un servizio ricevuto. Controlli di averlo copiato per intero, oppure inquadri di nuovo il codice QR.",
    bad_title: "Richiesta non valida",
    bad_body: "La risposta inviata non è stata capita. Torni alla pagina del giudizio e riprovi.",
    privacy: "Il giudizio è anonimo: non registriamo chi lei sia, né il suo indirizzo IP, e non usiamo cookie.",
    programme: "Mettiamoci la faccia",
};

pub const EN: Words = Words {
    lang: "en",
    other_lang: "it",
    other_lang_name: "Italiano",
    switch_label: "Language",
    question: "How do you rate the service you received?",
    service: "Service",
    counter: "Counter",
    day: "Date",
    until: "You can vote until",
    faces_legend: "Your rating",
    faces: ["Satisfied", "Fair", "Unsatisfied"],
    once_note: "You can vote once for each service received.",
    reasons_title: "Why are you unsatisfied?",
    reasons_intro: "Choose the main reason. Your rating is recorded when you choose.",
    reasons_legend: "Main reason",
    reasons: [
        "Waiting time",
        "Staff behaviour",
        "I had to come back",
        "Negative outcome",
    ],
    no_reason: "I prefer not to say",
    back: "Back to the three ratings",
    stars_question: "How satisfied are you with the service?",
    stars_legend: "Rate from 1 to 5 stars",
    star_labels: [
        "1 star out of 5",
        "2 stars out of 5",
        "3 stars out of 5",
        "4 stars out of 5",
        "5 stars out of 5",
    ],
    next: "Next",
    send: "Send your rating",
    stars_missing: "Choose from 1 to 5 stars to go on.",
    follow_low: "Where did you have the most difficulty?",
    follow_high: "What did you like best?",
    follow_low_options: [
        "Sometimes the directions were not clear",
        "Sometimes the directions were not complete",
        "Sometimes I could not tell whether I was doing it right",
        "I had technical problems",
        "Other",
    ],
    follow_high_options: [
        "The directions were clear",
        "The directions were complete",
        "I could always tell whether I was doing it right",
        "I had no technical problems",
        "Other",
    ],
    details: "Would you like to add more details?",
    details_hint: "200 characters at most. Please do not write personal data.",
    optional: "optional",
    thanks_title: "Thank you!",
    thanks_body: "Your rating has been recorded. It helps us improve our services.",
    already_title: "Rating already given",
    already_body: "A rating has already been given for this service: only one is allowed. Thank you for taking part.",
    expired_title: "The time to vote is over",
    expired_body: "This link no longer takes ratings: it is valid for a limited time after the service. You can rate the next one.",
    not_found_title: "Link not valid",
    not_found_body: "This address does not match a service received. Check that you copied all of it, or scan the QR code again.",
    bad_title: "Request not valid",
    bad_body: "The answer sent was not understood. Go back to the rating page and try again.",
    privacy: "Your rating is anonymous: we do not record who you are or your IP address, and we use no cookies.",
    programme: "Mettiamoci la faccia",
};

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::It => &IT,
        Lang::En => &EN,
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page around `main`: `path` is where the language switch points (None: no switch).
fn page(w: &Words, title: &str, office: Option<&str>, path: Option<&str>, main: &str) -> String {
    let office_line = office.map_or(String::new(), |o| {
        format!("<p class=\"office\">{}</p>", esc(o))
    });
    let switch = path.map_or(String::new(), |p| {
        format!(
            "<nav aria-label=\"{}\"><a href=\"{}?lang={}\" lang=\"{}\" hreflang=\"{}\">{}</a></nav>",
            w.switch_label,
            esc(p),
            w.other_lang,
            w.other_lang,
            w.other_lang,
            w.other_lang_name
        )
    });
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title} – {programme}</title>\n\
         <link rel=\"stylesheet\" href=\"{css}\">\n</head>\n<body>\n\
         <header><p class=\"programme\">{programme}</p>{office_line}{switch}</header>\n\
         <main>\n{main}\n</main>\n<footer><p>{privacy}</p></footer>\n</body>\n</html>\n",
        lang = w.lang,
        title = esc(title),
        programme = w.programme,
        css = super::CSS_PATH,
        privacy = w.privacy,
    )
}

fn about_list(w: &Words, a: &About) -> String {
    let mut rows = vec![
        (w.service, &a.service),
        (w.day, &a.day),
        (w.until, &a.until),
    ];
    if !a.counter.is_empty() {
        rows.insert(1, (w.counter, &a.counter));
    }
    let items: String = rows
        .iter()
        .map(|(k, v)| format!("<div><dt>{k}</dt><dd>{}</dd></div>", esc(v)))
        .collect();
    format!("<dl class=\"about\">{items}</dl>")
}

const FACE_CLASSES: [&str; 3] = ["green", "yellow", "red"];
const FACE_VALUES: [&str; 3] = ["green", "yellow", "red"];

/// A drawn face (decorative: the button's text says what it means).
fn face_svg(i: usize) -> String {
    let mouth = match i {
        0 => "M14 27 Q24 36 34 27",
        1 => "M14 30 L34 30",
        _ => "M14 33 Q24 24 34 33",
    };
    format!(
        "<svg aria-hidden=\"true\" focusable=\"false\" viewBox=\"0 0 48 48\" width=\"64\" height=\"64\">\
         <circle cx=\"24\" cy=\"24\" r=\"22\" class=\"disc\"/>\
         <circle cx=\"17\" cy=\"19\" r=\"3\" class=\"ink\"/><circle cx=\"31\" cy=\"19\" r=\"3\" class=\"ink\"/>\
         <path d=\"{mouth}\" class=\"mouth\"/></svg>"
    )
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        esc(value)
    )
}

/// The three faces.
pub fn faces(w: &Words, a: &About, path: &str) -> String {
    let buttons: String = (0..3)
        .map(|i| {
            format!(
                "<button type=\"submit\" name=\"face\" value=\"{}\" class=\"face {}\">{}<span>{}</span></button>",
                FACE_VALUES[i],
                FACE_CLASSES[i],
                face_svg(i),
                w.faces[i]
            )
        })
        .collect();
    let main = format!(
        "<h1>{q}</h1>\n{about}\n<form method=\"post\" action=\"{action}\">{lang}\
         <fieldset><legend>{legend}</legend><div class=\"faces\">{buttons}</div></fieldset></form>\n\
         <p class=\"note\">{once}</p>",
        q = w.question,
        about = about_list(w, a),
        action = esc(path),
        lang = hidden("lang", w.lang),
        legend = w.faces_legend,
        once = w.once_note,
    );
    page(w, w.question, Some(&a.office), Some(path), &main)
}

/// After red: the four reasons (or none).
pub fn reasons(w: &Words, a: &About, path: &str) -> String {
    let mut buttons: String = w
        .reasons
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "<button type=\"submit\" name=\"reason\" value=\"{}\" class=\"choice\">{r}</button>",
                i + 1
            )
        })
        .collect();
    buttons.push_str(&format!(
        "<button type=\"submit\" name=\"reason\" value=\"0\" class=\"choice quiet\">{}</button>",
        w.no_reason
    ));
    let main = format!(
        "<h1>{t}</h1>\n<p>{intro}</p>\n<form method=\"post\" action=\"{action}\">{lang}{face}\
         <fieldset><legend>{legend}</legend><div class=\"choices\">{buttons}</div></fieldset></form>\n\
         <p><a href=\"{back}?lang={l}\">{back_text}</a></p>",
        t = w.reasons_title,
        intro = w.reasons_intro,
        action = esc(path),
        lang = hidden("lang", w.lang),
        face = hidden("face", "red"),
        legend = w.reasons_legend,
        back = esc(path),
        l = w.lang,
        back_text = w.back,
    );
    page(w, w.reasons_title, Some(&a.office), None, &main)
}

/// The AGID form, first step: 1-5 stars.
pub fn stars(w: &Words, a: &About, path: &str, missing: bool) -> String {
    let error = if missing {
        format!(
            "<p class=\"error\" id=\"stars-error\" role=\"alert\">{}</p>",
            w.stars_missing
        )
    } else {
        String::new()
    };
    let described = if missing {
        " aria-describedby=\"stars-error\""
    } else {
        ""
    };
    let radios: String = (1..=5)
        .map(|n| {
            format!(
                "<div class=\"star\"><input type=\"radio\" name=\"stars\" id=\"stars-{n}\" value=\"{n}\" required>\
                 <label for=\"stars-{n}\"><span aria-hidden=\"true\">{}</span> {}</label></div>",
                "★".repeat(n),
                w.star_labels[n - 1]
            )
        })
        .collect();
    let main = format!(
        "<h1>{q}</h1>\n{about}\n{error}<form method=\"post\" action=\"{action}\">{lang}\
         <fieldset{described}><legend>{legend}</legend><div class=\"stars\">{radios}</div></fieldset>\
         <button type=\"submit\" class=\"primary\">{next}</button></form>\n<p class=\"note\">{once}</p>",
        q = w.stars_question,
        about = about_list(w, a),
        action = esc(path),
        lang = hidden("lang", w.lang),
        legend = w.stars_legend,
        next = w.next,
        once = w.once_note,
    );
    page(w, w.stars_question, Some(&a.office), Some(path), &main)
}

/// The AGID form, second step: the follow-up question for the stars given, and free text.
pub fn follow_up(w: &Words, a: &About, path: &str, stars: u8) -> String {
    let (question, options) = if stars <= 3 {
        (w.follow_low, &w.follow_low_options)
    } else {
        (w.follow_high, &w.follow_high_options)
    };
    let radios: String = options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let n = i + 1;
            format!(
                "<div class=\"option\"><input type=\"radio\" name=\"follow_up\" id=\"follow-{n}\" value=\"{n}\">\
                 <label for=\"follow-{n}\">{o}</label></div>"
            )
        })
        .collect();
    let main = format!(
        "<h1>{question}</h1>\n<p class=\"note\">{stars_label}</p>\n\
         <form method=\"post\" action=\"{action}\">{lang}{stars}{step}\
         <fieldset><legend>{question} <span class=\"opt\">({optional})</span></legend>{radios}</fieldset>\
         <div class=\"field\"><label for=\"text\">{details} <span class=\"opt\">({optional})</span></label>\
         <p class=\"hint\" id=\"text-hint\">{hint}</p>\
         <textarea id=\"text\" name=\"text\" rows=\"4\" maxlength=\"200\" aria-describedby=\"text-hint\"></textarea></div>\
         <button type=\"submit\" class=\"primary\">{send}</button></form>",
        stars_label = w.star_labels[usize::from(stars.clamp(1, 5)) - 1],
        action = esc(path),
        lang = hidden("lang", w.lang),
        stars = hidden("stars", &stars.to_string()),
        step = hidden("step", "2"),
        optional = w.optional,
        details = w.details,
        hint = w.details_hint,
        send = w.send,
    );
    page(w, question, Some(&a.office), None, &main)
}

/// A page that only says something: thanks, already voted, expired, not found, bad request.
pub fn message(
    w: &Words,
    title: &str,
    body: &str,
    office: Option<&str>,
    path: Option<&str>,
) -> String {
    let main = format!("<h1>{}</h1>\n<p>{}</p>", esc(title), esc(body));
    page(w, title, office, path, &main)
}

/// The stylesheet (served same-origin: the CSP allows no inline style).
pub const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 1.125rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1a1a1a; background: #ffffff; }
header, main, footer { max-width: 40rem; margin: 0 auto; padding: 1rem; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline;
  border-bottom: 1px solid #6b6b6b; }
header p { margin: 0; }
.programme { font-weight: 700; }
.office { flex: 1; }
a { color: #0645ad; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: .5rem 0 1rem; }
dl.about { display: grid; gap: .25rem; margin: 0 0 1rem; }
dl.about div { display: flex; flex-wrap: wrap; gap: .5rem; }
dt { font-weight: 700; }
dt::after { content: ":"; }
dd { margin: 0; }
fieldset { border: 0; padding: 0; margin: 0 0 1rem; }
legend { font-weight: 700; margin-bottom: .5rem; }
.faces { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .75rem; }
button { font: inherit; cursor: pointer; border-radius: .5rem; }
button:focus-visible, a:focus-visible, input:focus-visible, textarea:focus-visible {
  outline: 3px solid #1a1a1a; outline-offset: 3px; box-shadow: 0 0 0 6px #ffffff; }
.face { display: flex; flex-direction: column; align-items: center; gap: .5rem; padding: 1rem;
  min-height: 8rem; border: 2px solid #1a1a1a; font-weight: 700; }
.face .disc { stroke: #1a1a1a; stroke-width: 2; }
.face .ink { fill: #1a1a1a; }
.face .mouth { fill: none; stroke: #1a1a1a; stroke-width: 3; stroke-linecap: round; }
.face.green { background: #d7f0dc; color: #0b3d18; }
.face.green .disc { fill: #2e9e4f; }
.face.yellow { background: #fff3c4; color: #4a3b00; }
.face.yellow .disc { fill: #f2c230; }
.face.red { background: #fbdcdc; color: #6b0a0a; }
.face.red .disc { fill: #d93b3b; }
.face:hover { border-width: 4px; padding: calc(1rem - 2px); }
.choices { display: grid; gap: .5rem; }
.choice, .primary { padding: .75rem 1rem; min-height: 3rem; text-align: left;
  border: 2px solid #1a1a1a; background: #f2f2f2; color: #1a1a1a; }
.choice.quiet { background: #ffffff; }
.primary { background: #0645ad; color: #ffffff; border-color: #0645ad; font-weight: 700; }
.stars .star, .option { display: flex; align-items: center; gap: .5rem; margin: .25rem 0; min-height: 2.75rem; }
input[type=radio] { width: 1.5rem; height: 1.5rem; margin: 0; }
.stars span[aria-hidden] { color: #7a5a00; letter-spacing: .1em; }
.field { margin: 0 0 1rem; }
.field label { display: block; font-weight: 700; }
textarea { width: 100%; font: inherit; padding: .5rem; border: 2px solid #1a1a1a; border-radius: .25rem; }
.hint, .note, .opt { color: #4a4a4a; }
.hint { margin: .25rem 0; }
.opt { font-weight: 400; }
.error { color: #8b0000; font-weight: 700; border-left: 4px solid #8b0000; padding-left: .5rem; }
footer { font-size: 1rem; color: #4a4a4a; border-top: 1px solid #6b6b6b; margin-top: 1rem; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn about() -> About {
        About {
            office: "Ufficio <Anagrafe>".into(),
            service: "Carta d'identità".into(),
            counter: "Sportello 1".into(),
            day: "23/11/2026".into(),
            until: "24/11/2026 10:00".into(),
        }
    }

    #[test]
    fn pages_are_escaped_and_have_a_language() {
        let p = faces(&IT, &about(), "/v/abc");
        assert!(p.contains("<html lang=\"it\">"));
        assert!(p.contains("Ufficio &lt;Anagrafe&gt;"));
        assert!(p.contains("Carta d&#39;identità"));
        assert_eq!(p.matches("type=\"submit\" name=\"face\"").count(), 3);
        assert!(p.contains("href=\"/v/abc?lang=en\""));
        assert!(!p.contains("<script") && !p.contains("style=\""));
        let p = reasons(&EN, &about(), "/v/abc");
        assert!(p.contains("<html lang=\"en\">"));
        assert_eq!(p.matches("name=\"reason\"").count(), 5);
        let p = follow_up(&IT, &about(), "/v/abc", 2);
        assert!(p.contains(IT.follow_low) && p.contains("maxlength=\"200\""));
        let p = follow_up(&IT, &about(), "/v/abc", 5);
        assert!(p.contains(IT.follow_high));
    }
}
