//! Fetching for the feed builder: a page whose address a person typed into a web form.
//!
//! `serve` often runs next to things that must not be reachable from a web form (a router's
//! admin page, a cloud metadata service, databases on localhost). So the builder fetches only
//! `http`/`https` URLs whose host resolves to public addresses, unless
//! `[settings] allow_private_hosts = true`. Redirects are followed here, one hop at a time,
//! and every hop is checked the same way. Each request connects to the very addresses that
//! were checked (the client is pinned to them), so a name that resolves to a public address
//! for the check and to a private one for the connection (DNS rebinding) gets nowhere.
//! Otherwise the policy is a build's: the configured User-Agent, timeout and `max_page_bytes`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Url;

use crate::config::Settings;
use crate::source::fetch::{FetchError, Page, Validators};

/// Redirects followed before giving up (a build follows as many).
const MAX_REDIRECTS: usize = 10;

/// Why the builder did not fetch an address.
#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    /// Not an address the builder fetches, or refused by the address rules (a 4xx).
    #[error("{0}")]
    Refused(String),
    /// The fetch itself failed (network, HTTP status, size).
    #[error("cannot fetch {url}: {source}")]
    Fetch { url: String, source: FetchError },
}

/// Whether `ip` is loopback, private, link-local, unique-local or otherwise not a public
/// address (unspecified, shared CGNAT space, broadcast, multicast).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique-local
                || (first & 0xfe00) == 0xfc00
                // fe80::/10 link-local, fec0::/10 the old site-local
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                // ::a.b.c.d, the old IPv4-compatible form
                || (v6.segments()[..6].iter().all(|s| *s == 0) && v6 != Ipv6Addr::UNSPECIFIED)
        }
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        // 0.0.0.0/8 "this network", 100.64.0.0/10 shared address space
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

/// The addresses `url` may be fetched from: an http(s) URL with a host that resolves, to
/// public addresses only unless `allow_private`.
pub async fn check_url(url: &Url, allow_private: bool) -> Result<Vec<SocketAddr>, SafetyError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SafetyError::Refused(format!(
            "{url}: only http and https addresses can be fetched"
        )));
    }
    let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
        return Err(SafetyError::Refused(format!(
            "{url}: the address has no host"
        )));
    };
    let addrs: Vec<SocketAddr> = match host {
        url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        url::Host::Domain(name) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| SafetyError::Fetch {
                url: url.to_string(),
                source: FetchError::Request(format!("cannot resolve {name}: {e}")),
            })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(SafetyError::Fetch {
            url: url.to_string(),
            source: FetchError::Request(format!("{host} has no address")),
        });
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| is_private(a.ip())) {
        return Err(SafetyError::Refused(format!(
            "{url}: the address {} is private or loopback, so the feed builder does not fetch it; \
             set `allow_private_hosts = true` in [settings] if pages on your own network should be reachable",
            bad.ip()
        )));
    }
    Ok(addrs)
}

/// Fetches for the builder: checked, pinned, redirects one hop at a time.
pub struct SafeFetcher {
    user_agent: String,
    timeout: Duration,
    max_bytes: u64,
    allow_private: bool,
}

impl SafeFetcher {
    pub fn new(settings: &Settings) -> SafeFetcher {
        SafeFetcher {
            user_agent: settings.user_agent.clone(),
            timeout: settings.timeout,
            max_bytes: settings.max_page_bytes,
            allow_private: settings.allow_private_hosts,
        }
    }

    /// `GET url`, following redirects that pass the same checks.
    pub async fn get(&self, url: &Url, accept: &str) -> Result<Page, SafetyError> {
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let addrs = check_url(&current, self.allow_private).await?;
            let fetch_err = |source| SafetyError::Fetch {
                url: current.to_string(),
                source,
            };
            let mut builder = reqwest::Client::builder()
                .user_agent(self.user_agent.clone())
                .timeout(self.timeout)
                .connect_timeout(self.timeout.min(Duration::from_secs(10)))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy();
            if let Some(url::Host::Domain(name)) = current.host() {
                builder = builder.resolve_to_addrs(name, &addrs);
            }
            let client = builder
                .build()
                .map_err(|e| fetch_err(FetchError::Client(e.to_string())))?;
            let mut resp = client
                .get(current.clone())
                .header(reqwest::header::ACCEPT, accept)
                .send()
                .await
                .map_err(|e| fetch_err(FetchError::Request(e.to_string())))?;
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| current.join(l).ok());
                match next {
                    Some(next) => {
                        current = next;
                        continue;
                    }
                    None => {
                        return Err(fetch_err(FetchError::Request(format!(
                            "HTTP {} without a usable Location",
                            status.as_u16()
                        ))));
                    }
                }
            }
            if !status.is_success() {
                return Err(fetch_err(FetchError::Status {
                    status: status.as_u16(),
                    reason: status.canonical_reason().map(str::to_string),
                    retry_after: None,
                }));
            }
            if resp.content_length().is_some_and(|n| n > self.max_bytes) {
                return Err(fetch_err(FetchError::TooLarge {
                    limit: self.max_bytes,
                }));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut bytes = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| fetch_err(FetchError::Request(e.to_string())))?
            {
                let total = bytes.len().saturating_add(chunk.len());
                if u64::try_from(total).unwrap_or(u64::MAX) > self.max_bytes {
                    return Err(fetch_err(FetchError::TooLarge {
                        limit: self.max_bytes,
                    }));
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok(Page {
                bytes,
                content_type,
                url: current,
                validators: Validators::default(),
            });
        }
        Err(SafetyError::Fetch {
            url: url.to_string(),
            source: FetchError::Request(format!("more than {MAX_REDIRECTS} redirects")),
        })
    }

    /// Whether the site's robots.txt lets pagefeed fetch `url` (fetched through the same
    /// checks). A site without one allows everything; one that cannot be read allows nothing
    /// (RFC 9309), as in a build.
    pub async fn robots_allow(&self, url: &Url) -> Result<(), SafetyError> {
        use crate::source::robots::{Answer, Rules, product_token, robots_url};
        let Some(robots) = robots_url(url) else {
            return Ok(());
        };
        let result = match self.get(&robots, "text/plain,*/*;q=0.5").await {
            Ok(page) => Ok(page.bytes),
            Err(SafetyError::Fetch { source, .. }) => Err(source),
            Err(refused) => return Err(refused),
        };
        let rules = match Answer::of(result) {
            Answer::Body(body) => Rules::parse(product_token(&self.user_agent), &body, &robots)
                .map_err(|e| SafetyError::Refused(e.to_string()))?,
            Answer::Unavailable => Rules::allow_all(),
            Answer::Unreachable(reason) => {
                return Err(SafetyError::Refused(format!(
                    "{robots} could not be read ({reason}); a site whose robots.txt cannot be read disallows every page, so {url} was not fetched"
                )));
            }
        };
        if rules.allows(url) {
            Ok(())
        } else {
            Err(SafetyError::Refused(format!(
                "{url} is disallowed for pagefeed by {robots}, so it was not fetched"
            )))
        }
    }

    /// robots.txt, then the page.
    pub async fn page(&self, url: &Url) -> Result<Page, SafetyError> {
        check_url(url, self.allow_private).await?;
        self.robots_allow(url).await?;
        self.get(url, "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_addresses_are_recognised() {
        for p in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00::1",
            "fc12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip(p)), "{p}");
        }
        for p in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert!(!is_private(ip(p)), "{p}");
        }
    }

    #[tokio::test]
    async fn refuses_other_schemes_and_private_hosts() {
        let e = check_url(&Url::parse("file:///etc/passwd").unwrap(), true)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("only http and https"), "{e}");
        let e = check_url(&Url::parse("http://127.0.0.1:9/").unwrap(), false)
            .await
            .unwrap_err();
        assert!(matches!(e, SafetyError::Refused(_)));
        assert!(e.to_string().contains("private or loopback"), "{e}");
        let e = check_url(&Url::parse("http://[::1]:9/").unwrap(), false)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("private or loopback"), "{e}");
        assert!(
            check_url(&Url::parse("http://127.0.0.1:9/").unwrap(), true)
                .await
                .is_ok()
        );
    }
}
