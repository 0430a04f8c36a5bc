//! Known crawlers, told by their `User-Agent`: the bot filter that drops
//! their events when they come through a publishable (`ingest`) key.
//!
//! The list is the `isbot` crate's (the patterns of the `isbot` npm
//! package, which Plausible-style trackers use too): search engines,
//! social previews, monitors, headless browsers, and HTTP libraries such
//! as `curl` or `python-requests`. Those libraries are why the filter
//! applies only to publishable keys: a server sending events with its
//! secret `full` key is never filtered.

use std::sync::LazyLock;

/// Compiled once: a few hundred patterns in one regular expression.
static KNOWN_CRAWLERS: LazyLock<isbot::Bots> = LazyLock::new(isbot::Bots::default);

/// Whether `user_agent` names a known crawler. An empty or absent one is
/// not: it says nothing about the sender.
pub fn is_known_crawler(user_agent: &str) -> bool {
    let user_agent = user_agent.trim();
    !user_agent.is_empty() && KNOWN_CRAWLERS.is_bot(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_engines_previews_and_headless_browsers_are_crawlers() {
        for agent in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Twitterbot/1.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.31.0",
        ] {
            assert!(is_known_crawler(agent), "{agent}");
        }
    }

    #[test]
    fn browsers_and_unknown_senders_are_not() {
        for agent in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            "",
            "   ",
        ] {
            assert!(!is_known_crawler(agent), "{agent}");
        }
    }
}
