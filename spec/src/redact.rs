//! Keeps secrets out of everything the runner writes: RPC URLs may carry API
//! keys in their path, query or user info.

/// `scheme://host[:port]` with user info removed and any path or query shown as
/// `/…`; a URL with neither (the runner's own loopback endpoints) is unchanged.
pub fn url(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return if text.is_empty() {
            String::new()
        } else {
            "<redacted>".to_owned()
        };
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let tail = if authority_end < rest.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{tail}")
}

/// Path segments and query values at least this long are treated as keys on
/// their own (shorter ones, like `v2`, are too common to replace).
const MIN_KEY_LEN: usize = 8;

/// `text` with every secret part of `url` (the whole URL, its user info, its
/// path and query) replaced by `…`, for messages built from errors that may
/// quote the URL they failed on.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &self::url(url));
    for secret in secret_parts(url) {
        out = out.replace(secret, "…");
    }
    out
}

/// The parts of a URL that may carry a key: user info, and path plus query
/// (a lone `/` is not a secret). Longest first, so a part inside another is
/// replaced after it.
fn secret_parts(url: &str) -> Vec<&str> {
    let Some((_, rest)) = url.split_once("://") else {
        return if url.is_empty() {
            Vec::new()
        } else {
            vec![url]
        };
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut parts = Vec::new();
    if let Some((user_info, _)) = rest[..authority_end].rsplit_once('@') {
        parts.push(user_info);
        if let Some((_, password)) = user_info.split_once(':') {
            parts.push(password);
        }
    }
    let tail = &rest[authority_end..];
    if !tail.trim_start_matches('/').is_empty() {
        parts.push(tail);
        parts.push(tail.trim_start_matches(['/', '?']));
        // Single path segments and query values: long ones are keys.
        let pieces = tail.split(['/', '?', '&', '#']);
        let values = pieces.map(|piece| piece.split_once('=').map_or(piece, |(_, v)| v));
        parts.extend(values.filter(|v| v.len() >= MIN_KEY_LEN));
    }
    parts.retain(|p| p.len() >= 4);
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    parts.dedup();
    parts
}

#[cfg(test)]
mod tests {
    #[test]
    fn scrub_removes_every_secret_part() {
        let cases = [
            (
                "error sending request for url (https://rpc.example.com/v2/SECRETKEY123)",
                "https://rpc.example.com/v2/SECRETKEY123",
                "error sending request for url (https://rpc.example.com/…)",
            ),
            (
                "GET /v2/SECRETKEY123 failed; key v2/SECRETKEY123",
                "https://rpc.example.com/v2/SECRETKEY123",
                "GET … failed; key …",
            ),
            (
                "auth u:SECRETKEY123 and SECRETKEY123 alone",
                "http://u:SECRETKEY123@127.0.0.1:1/?apikey=SECRETKEY123",
                "auth … and … alone",
            ),
            (
                "bad key SECRETKEY123",
                "https://rpc.example.com/v2/SECRETKEY123?x=1",
                "bad key …",
            ),
            (
                "connection refused",
                "http://127.0.0.1:8545",
                "connection refused",
            ),
        ];
        for (text, url, want) in cases {
            let got = super::scrub(text, url);
            assert_eq!(got, want, "text {text}");
            assert!(!got.contains("SECRETKEY123"), "{got}");
        }
    }

    #[test]
    fn secrets_are_removed() {
        let cases = [
            (
                "https://eth-sepolia.example.com/v2/SECRETKEY123",
                "https://eth-sepolia.example.com/…",
            ),
            (
                "https://user:SECRETKEY123@rpc.example.com",
                "https://rpc.example.com",
            ),
            (
                "wss://rpc.example.com/ws?apikey=SECRETKEY123",
                "wss://rpc.example.com/…",
            ),
            ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
            (
                "http://127.0.0.1:8545/SECRETKEY123",
                "http://127.0.0.1:8545/…",
            ),
            ("not a url SECRETKEY123", "<redacted>"),
        ];
        for (input, want) in cases {
            let got = super::url(input);
            assert_eq!(got, want, "input {input}");
        }
    }
}
