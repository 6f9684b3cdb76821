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

#[cfg(test)]
mod tests {
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
