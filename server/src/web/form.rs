//! `application/x-www-form-urlencoded` bodies and query strings, decoded by hand (the forms
//! here have a handful of fields; no extra dependency is needed for that).

use percent_encoding::percent_decode;

/// The pairs of a form body or query string, in order. Undecodable UTF-8 is replaced.
pub fn pairs(text: &[u8]) -> Vec<(String, String)> {
    text.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|b| *b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &b""[..]),
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&spaced).decode_utf8_lossy().into_owned()
}

/// The first value of `name`.
pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        let p = pairs(b"face=red&reason=2&text=ciao+a+tutti%21+%C3%A8&empty=&flag");
        assert_eq!(get(&p, "face"), Some("red"));
        assert_eq!(get(&p, "reason"), Some("2"));
        assert_eq!(get(&p, "text"), Some("ciao a tutti! è"));
        assert_eq!(get(&p, "empty"), Some(""));
        assert_eq!(get(&p, "flag"), Some(""));
        assert_eq!(get(&p, "missing"), None);
        assert_eq!(get(&pairs(b"x=%FF%FE"), "x"), Some("\u{fffd}\u{fffd}"));
    }
}
