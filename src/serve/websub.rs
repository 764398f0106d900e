//! WebSub publishing: telling the hub which feed URLs changed.
//!
//! Feeds carry `<atom:link rel="hub">` (see the renderers); after a refresh that changed
//! feeds, one publish request names every changed URL (`hub.mode=publish`, `hub.url`
//! repeated). It is sent at once: `host_delay` spaces requests to scraped sites, not to the
//! hub. A hub that fails is logged; the feeds are served regardless.

use std::time::Duration;

use url::Url;

pub struct WebSub {
    hub: Url,
    client: reqwest::Client,
}

impl WebSub {
    pub fn new(hub: Url) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent(crate::config::DEFAULT_USER_AGENT)
            .build()
            .unwrap_or_default();
        WebSub { hub, client }
    }

    /// The form body of a publish request for `urls`.
    pub fn body(urls: &[String]) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("hub.mode", "publish");
        for u in urls {
            form.append_pair("hub.url", u);
        }
        form.finish()
    }

    /// Send one publish request naming `urls`.
    pub async fn publish(&self, urls: Vec<String>) {
        let result = self
            .client
            .post(self.hub.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Self::body(&urls))
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {
                tracing::info!(hub = %self.hub, urls = urls.len(), "WebSub publish sent");
            }
            Ok(r) => {
                tracing::warn!(hub = %self.hub, status = r.status().as_u16(), "WebSub hub refused the publish request")
            }
            Err(e) => tracing::warn!(hub = %self.hub, error = %e, "WebSub publish failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_repeats_hub_url() {
        let b = super::WebSub::body(&[
            "https://f.example/a.rss".into(),
            "https://f.example/a.atom".into(),
        ]);
        assert_eq!(
            b,
            "hub.mode=publish&hub.url=https%3A%2F%2Ff.example%2Fa.rss&hub.url=https%3A%2F%2Ff.example%2Fa.atom"
        );
    }
}
