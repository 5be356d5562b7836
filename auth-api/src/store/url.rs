//! How a `DATABASE_URL` may be shown: in messages and logs, never with its password.

/// `url` with any password replaced by `***`, fit for messages and logs.
pub fn redacted_url(url: &str) -> String {
    let (head, query) = url.split_once('?').map_or((url, None), |(h, q)| (h, Some(q)));
    let head = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) =
                rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => authority.to_owned(),
                },
                None => authority.to_owned(),
            };
            match path {
                Some(path) => format!("{scheme}://{authority}/{path}"),
                None => format!("{scheme}://{authority}"),
            }
        }
        None => head.to_owned(),
    };
    let Some(query) = query else { return head };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn redacted_urls_keep_everything_but_the_password() {
        for (url, shown) in [
            ("sqlite://data/auth.db", "sqlite://data/auth.db"),
            ("postgres://app@db:5432/auth", "postgres://app@db:5432/auth"),
            ("postgres://app:s3cret@db:5432/auth", "postgres://app:***@db:5432/auth"),
            (
                "postgresql://app:p%40ss@db/auth?sslmode=disable",
                "postgresql://app:***@db/auth?sslmode=disable",
            ),
            (
                "postgres:///auth?host=/run/pg&password=s3cret",
                "postgres:///auth?host=/run/pg&password=***",
            ),
        ] {
            assert_eq!(redacted_url(url), shown);
        }
    }
}
