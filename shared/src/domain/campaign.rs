//! Where a visit came from: the campaign fields of an event (UTM tags, ad
//! click ids, the referrer) and the marketing channel they fall in, with
//! rules in the spirit of GA4's default channel group.
//!
//! Everything here is a pure function of the event's `properties` and the
//! tenant's list of referrer domains to ignore; the event keeps what the
//! client sent, these are derived from it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Campaign values are trimmed, lowercased and cut to this many characters.
pub const MAX_CAMPAIGN_CHARS: usize = 128;

/// The source and medium of a visit with no campaign and no referrer.
pub const DIRECT_SOURCE: &str = "(direct)";
pub const NO_MEDIUM: &str = "(none)";

/// The UTM properties, in the order reports name them.
pub const UTM_FIELDS: [&str; 5] = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

/// Ad click ids a landing-page URL may carry, with the source and medium a
/// click without UTM tags is credited to. `fbclid` is added to every
/// outbound Facebook link, paid or not, so it says "social", not "paid".
const CLICK_IDS: [(&str, &str, &str); 7] = [
    ("gclid", "google", "cpc"),
    ("gbraid", "google", "cpc"),
    ("wbraid", "google", "cpc"),
    ("msclkid", "bing", "cpc"),
    ("ttclid", "tiktok", "cpc"),
    ("li_fat_id", "linkedin", "cpc"),
    ("fbclid", "facebook", "social"),
];

/// A site a referrer or `utm_source` may name.
struct Site {
    /// The source name reports use.
    name: &'static str,
    /// Host labels naming it before the public suffix (`google` for
    /// `www.google.co.uk`).
    labels: &'static [&'static str],
    /// Whole hosts naming it (`t.co`), subdomains included.
    hosts: &'static [&'static str],
    /// Other `utm_source` values meaning it (`fb`, `x`).
    aliases: &'static [&'static str],
}

const fn site(
    name: &'static str,
    labels: &'static [&'static str],
    hosts: &'static [&'static str],
    aliases: &'static [&'static str],
) -> Site {
    Site { name, labels, hosts, aliases }
}

/// Known search engines.
const SEARCH_ENGINES: &[Site] = &[
    site("google", &["google"], &[], &[]),
    site("bing", &["bing"], &[], &[]),
    site("yahoo", &["yahoo"], &[], &[]),
    site("duckduckgo", &["duckduckgo"], &[], &["ddg"]),
    site("baidu", &["baidu"], &[], &[]),
    site("yandex", &["yandex"], &["ya.ru"], &[]),
    site("ecosia", &["ecosia"], &[], &[]),
    site("naver", &["naver"], &[], &[]),
    site("seznam", &["seznam"], &[], &[]),
    site("qwant", &["qwant"], &[], &[]),
    site("startpage", &["startpage"], &[], &[]),
    site("brave", &[], &["search.brave.com"], &[]),
    site("ask", &[], &["ask.com"], &[]),
    site("aol", &["aol"], &[], &[]),
    site("sogou", &["sogou"], &[], &[]),
    site("daum", &["daum"], &[], &[]),
    site("kagi", &["kagi"], &[], &[]),
];

/// Known social networks.
const SOCIAL_NETWORKS: &[Site] = &[
    site("facebook", &["facebook", "messenger"], &["fb.com", "fb.me"], &["fb"]),
    site("instagram", &["instagram"], &[], &["ig"]),
    site("twitter", &["twitter"], &["t.co", "x.com"], &["x"]),
    site("linkedin", &["linkedin"], &["lnkd.in"], &[]),
    site("reddit", &["reddit"], &["redd.it"], &[]),
    site("pinterest", &["pinterest"], &["pin.it"], &[]),
    site("tiktok", &["tiktok"], &[], &[]),
    site("youtube", &["youtube"], &["youtu.be"], &["yt"]),
    site("snapchat", &["snapchat"], &[], &[]),
    site("tumblr", &["tumblr"], &[], &[]),
    site("quora", &["quora"], &[], &[]),
    site("vk", &["vk", "vkontakte"], &[], &[]),
    site("weibo", &["weibo"], &[], &[]),
    site("whatsapp", &["whatsapp"], &["wa.me"], &[]),
    site("telegram", &["telegram"], &["t.me"], &[]),
    site("discord", &["discord"], &["discord.gg"], &[]),
    site("mastodon", &[], &["mastodon.social", "mastodon.online"], &[]),
    site("threads", &[], &["threads.net", "threads.com"], &[]),
    site("bluesky", &[], &["bsky.app"], &["bsky"]),
    site("hacker news", &[], &["news.ycombinator.com"], &["hn", "hackernews"]),
];

/// Second-level labels that are part of a country's public suffix
/// (`google.co.uk`, `yahoo.com.br`): the name is the label before them.
const SECOND_LEVEL_SUFFIXES: [&str; 8] = ["co", "com", "net", "org", "ac", "gov", "ne", "or"];

/// The campaign fields of one event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Touch {
    pub source: String,
    pub medium: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The name of the first ad click id found on the landing URL
    /// (`gclid`, …); never its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
}

/// What an event is stored with besides what its client sent: its touch,
/// derived once at ingest with the tenant's ignored referrers of the
/// time, and the channel that touch falls in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignFields {
    pub channel: Channel,
    #[serde(flatten)]
    pub touch: Touch,
}

impl CampaignFields {
    /// The campaign fields of an event with these `properties`.
    pub fn of(properties: &Map<String, Value>, ignored_referrers: &[String]) -> Self {
        let touch = touch_of(properties, ignored_referrers);
        CampaignFields { channel: touch.channel(), touch }
    }
}

impl Touch {
    /// A visit with no campaign and no (unignored) referrer.
    pub fn direct() -> Self {
        Touch { source: DIRECT_SOURCE.into(), medium: NO_MEDIUM.into(), ..Touch::default() }
    }

    pub fn is_direct(&self) -> bool {
        self.channel() == Channel::Direct
    }

    /// `source / medium`, as reports group them.
    pub fn source_medium(&self) -> String {
        format!("{} / {}", self.source, self.medium)
    }

    pub fn channel(&self) -> Channel {
        channel_of(self)
    }
}

/// The marketing channels, GA4's default channel group without its
/// shopping, video, audio, SMS and push groups (they fall in the nearest
/// of these: a paid video click in Paid Social or Paid Other).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum Channel {
    Direct,
    #[serde(rename = "Paid Search")]
    PaidSearch,
    #[serde(rename = "Paid Social")]
    PaidSocial,
    Display,
    #[serde(rename = "Paid Other")]
    PaidOther,
    #[serde(rename = "Organic Social")]
    OrganicSocial,
    #[serde(rename = "Organic Search")]
    OrganicSearch,
    Email,
    Affiliates,
    Referral,
    Unassigned,
}

impl Channel {
    pub const ALL: [Channel; 11] = [
        Channel::Direct,
        Channel::PaidSearch,
        Channel::PaidSocial,
        Channel::Display,
        Channel::PaidOther,
        Channel::OrganicSocial,
        Channel::OrganicSearch,
        Channel::Email,
        Channel::Affiliates,
        Channel::Referral,
        Channel::Unassigned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "Direct",
            Channel::PaidSearch => "Paid Search",
            Channel::PaidSocial => "Paid Social",
            Channel::Display => "Display",
            Channel::PaidOther => "Paid Other",
            Channel::OrganicSocial => "Organic Social",
            Channel::OrganicSearch => "Organic Search",
            Channel::Email => "Email",
            Channel::Affiliates => "Affiliates",
            Channel::Referral => "Referral",
            Channel::Unassigned => "Unassigned",
        }
    }
}

/// `^(.*cp.*|ppc|retargeting|paid.*)$`: GA4's paid mediums.
fn is_paid_medium(medium: &str) -> bool {
    medium.contains("cp") || medium == "ppc" || medium == "retargeting" || medium.starts_with("paid")
}

fn is_email(value: &str) -> bool {
    matches!(value, "email" | "e-mail" | "e_mail" | "e mail")
}

fn is_social_medium(medium: &str) -> bool {
    matches!(medium, "social" | "social-network" | "social-media" | "sm" | "social network" | "social media")
}

/// The channel rules, first match wins (README, "Channels").
fn channel_of(touch: &Touch) -> Channel {
    let (source, medium) = (touch.source.as_str(), touch.medium.as_str());
    let search = is_search_engine(source);
    let social = is_social_network(source);
    let paid = is_paid_medium(medium);
    let click = touch.click_id.as_deref().and_then(|id| CLICK_IDS.iter().find(|(name, ..)| *name == id));
    let paid_click = click.is_some_and(|(_, _, medium)| *medium == "cpc");
    if source == DIRECT_SOURCE && matches!(medium, NO_MEDIUM | "(not set)") {
        return Channel::Direct;
    }
    if search && (paid || paid_click) {
        return Channel::PaidSearch;
    }
    if social && (paid || paid_click) {
        return Channel::PaidSocial;
    }
    if matches!(medium, "display" | "banner" | "expandable" | "interstitial" | "cpm") {
        return Channel::Display;
    }
    if paid || paid_click {
        return Channel::PaidOther;
    }
    if social || is_social_medium(medium) {
        return Channel::OrganicSocial;
    }
    if search || medium == "organic" {
        return Channel::OrganicSearch;
    }
    if is_email(source) || is_email(medium) {
        return Channel::Email;
    }
    if matches!(medium, "affiliate" | "affiliates") {
        return Channel::Affiliates;
    }
    if matches!(medium, "referral" | "app" | "link") {
        return Channel::Referral;
    }
    Channel::Unassigned
}

/// The known name (`google`) a source value or a host stands for.
fn known_name(table: &[Site], value: &str) -> Option<&'static str> {
    let found = if value.contains('.') {
        let host = value.strip_prefix("www.").unwrap_or(value);
        let label = registrable_label(host);
        table
            .iter()
            .find(|site| site.labels.contains(&label) || site.hosts.iter().any(|known| within(host, known)))
    } else {
        table
            .iter()
            .find(|site| site.name == value || site.aliases.contains(&value) || site.labels.contains(&value))
    };
    found.map(|site| site.name)
}

fn is_search_engine(source: &str) -> bool {
    known_name(SEARCH_ENGINES, source).is_some()
}

fn is_social_network(source: &str) -> bool {
    known_name(SOCIAL_NETWORKS, source).is_some()
}

/// The label that names a site: `google` for `www.google.co.uk`,
/// `facebook` for `l.facebook.com`; a single label is itself.
fn registrable_label(host: &str) -> &str {
    let mut labels = host.rsplit('.').filter(|label| !label.is_empty());
    let Some(last) = labels.next() else { return host };
    let Some(second) = labels.next() else { return last };
    match labels.next() {
        Some(name) if SECOND_LEVEL_SUFFIXES.contains(&second) => name,
        _ => second,
    }
}

/// A campaign value as reports hold it: trimmed, lowercased, at most
/// [`MAX_CAMPAIGN_CHARS`] characters; empty is absent.
pub fn normalize(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(
        trimmed
            .chars()
            .take(MAX_CAMPAIGN_CHARS)
            .flat_map(char::to_lowercase)
            .take(MAX_CAMPAIGN_CHARS)
            .collect(),
    )
}

/// A host without `www.`, lowercased, for source names and ignore lists.
fn host_of(url: &str) -> Option<String> {
    bare_host(url::Url::parse(url.trim()).ok()?.host_str()?)
}

fn bare_host(host: &str) -> Option<String> {
    let mut host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.starts_with("www.") {
        host.drain(..4);
    }
    (!host.is_empty()).then_some(host)
}

/// `host` is `domain` or one of its subdomains.
fn within(host: &str, domain: &str) -> bool {
    host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
}

/// The referrer domains a tenant wants ignored (payment providers, its own
/// sites): entries normalised to bare lowercase hosts, a `www.` dropped.
pub fn normalize_ignored_domain(raw: &str) -> Option<String> {
    let raw = raw.trim().to_ascii_lowercase();
    let host = if raw.contains("://") { host_of(&raw)? } else { raw.trim_end_matches('/').to_owned() };
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    valid.then_some(host)
}

/// How many referrer domains a tenant may ignore.
pub const MAX_IGNORED_REFERRERS: usize = 100;

/// A tenant's list of referrer domains to ignore, from a request body
/// `{"domains": [...]}`: each entry normalised ([`normalize_ignored_domain`]),
/// duplicates dropped, order kept; every unreadable entry is named.
pub fn parse_ignored_referrers(body: &Value) -> Result<Vec<String>, Vec<super::FieldError>> {
    use super::FieldError;
    let Some(entries) = body.get("domains").and_then(Value::as_array) else {
        return Err(vec![FieldError::new(
            "domains",
            "is required: a list of referrer domains (may be empty)",
        )]);
    };
    if entries.len() > MAX_IGNORED_REFERRERS {
        return Err(vec![FieldError::new(
            "domains",
            format!("at most {MAX_IGNORED_REFERRERS} domains, got {}", entries.len()),
        )]);
    }
    let mut domains: Vec<String> = Vec::with_capacity(entries.len());
    let mut errors = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry.as_str().and_then(normalize_ignored_domain) {
            Some(domain) if !domains.contains(&domain) => domains.push(domain),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("domains[{index}]"),
                "must be a host name such as paypal.com (a URL's host is taken; no wildcards)",
            )),
        }
    }
    if errors.is_empty() { Ok(domains) } else { Err(errors) }
}

fn text<'a>(properties: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    properties.get(name).and_then(Value::as_str)
}

/// The campaign fields of an event from its `properties`:
/// 1. `utm_*` properties, if any is set;
/// 2. else the `utm_*` and ad click ids of the query of `url` (the page);
/// 3. a missing source comes from a click id, else from `referrer` (a URL;
///    ignored when it is the page's own host or in `ignored_referrers`):
///    a known search engine is `organic`, a known social network `social`,
///    any other site a `referral`;
/// 4. with none of these, the visit is direct.
pub fn touch_of(properties: &Map<String, Value>, ignored_referrers: &[String]) -> Touch {
    let mut utm: [Option<String>; 5] = UTM_FIELDS.map(|field| text(properties, field).and_then(normalize));
    let url = text(properties, "url").map(str::trim);
    // Ingest derives this for every event: URLs are parsed only when
    // something is read from them, and each at most once.
    let mut page = None;
    let mut click_id = None;
    if utm.iter().all(Option::is_none)
        && let Some(url) = url.filter(|url| url.contains('?'))
    {
        page = url::Url::parse(url).ok();
        for (name, value) in page.iter().flat_map(url::Url::query_pairs) {
            if let Some(slot) = UTM_FIELDS.iter().position(|field| *field == name) {
                if utm[slot].is_none() {
                    utm[slot] = normalize(&value);
                }
            } else if click_id.is_none()
                && !value.trim().is_empty()
                && let Some((id, ..)) = CLICK_IDS.iter().find(|(id, ..)| *id == name)
            {
                click_id = Some((*id).to_owned());
            }
        }
    }
    let [source, medium, campaign, term, content] = utm;
    let clicked = click_id.as_deref().and_then(|id| CLICK_IDS.iter().find(|(name, ..)| *name == id));
    let (source, inferred_medium) = match (source, clicked) {
        (Some(source), _) => (source, None),
        (None, Some((_, source, medium))) => ((*source).to_owned(), Some((*medium).to_owned())),
        (None, None) => match referral(properties, url, page.as_ref(), ignored_referrers) {
            Some(host) => {
                if let Some(engine) = known_name(SEARCH_ENGINES, &host) {
                    (engine.to_owned(), Some("organic".to_owned()))
                } else if let Some(network) = known_name(SOCIAL_NETWORKS, &host) {
                    (network.to_owned(), Some("social".to_owned()))
                } else {
                    (normalize(&host).unwrap_or_default(), Some("referral".to_owned()))
                }
            }
            None if medium.is_none() && campaign.is_none() => {
                return Touch { term, content, ..Touch::direct() };
            }
            None => ("(not set)".to_owned(), None),
        },
    };
    let medium = medium.or(inferred_medium).unwrap_or_else(|| "(not set)".to_owned());
    Touch { source, medium, campaign, term, content, click_id }
}

/// The host of `properties.referrer`, unless it is the page's own host
/// (or a subdomain of it) or one of the tenant's ignored domains.
fn referral(
    properties: &Map<String, Value>,
    url: Option<&str>,
    page: Option<&url::Url>,
    ignored_referrers: &[String],
) -> Option<String> {
    let host = text(properties, "referrer").and_then(host_of)?;
    let own = match page {
        Some(page) => page.host_str().and_then(bare_host),
        None => url.and_then(host_of),
    };
    let foreign = own.is_none_or(|own| !within(&host, &own))
        && !ignored_referrers.iter().any(|domain| within(&host, domain));
    foreign.then_some(host)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn touch(properties: Value) -> Touch {
        touch_of(properties.as_object().unwrap(), &[])
    }

    fn channel(source: &str, medium: &str) -> Channel {
        Touch { source: source.into(), medium: medium.into(), ..Touch::default() }.channel()
    }

    #[test]
    fn values_are_trimmed_lowercased_and_cut_to_128_characters() {
        assert_eq!(normalize("  Spring_SALE "), Some("spring_sale".into()));
        assert_eq!(normalize("   "), None);
        let long = "Ä".repeat(200);
        assert_eq!(normalize(&long).unwrap().chars().count(), MAX_CAMPAIGN_CHARS);
        assert_eq!(normalize(&long).unwrap(), "ä".repeat(128));
        let t = touch(json!({"utm_source": " Newsletter ", "utm_medium": "EMAIL", "utm_campaign": "Nov"}));
        assert_eq!(
            (t.source.as_str(), t.medium.as_str(), t.campaign.as_deref()),
            ("newsletter", "email", Some("nov"))
        );
    }

    #[test]
    fn utm_properties_win_over_the_page_url() {
        let t = touch(json!({
            "utm_source": "bing", "utm_medium": "cpc",
            "url": "https://shop.example/?utm_source=google&utm_medium=cpc&gclid=abc",
        }));
        assert_eq!((t.source.as_str(), t.click_id.as_deref()), ("bing", None));
        assert_eq!(t.channel(), Channel::PaidSearch);
    }

    #[test]
    fn the_page_url_query_gives_utm_tags_when_properties_have_none() {
        let t = touch(json!({
            "url": "https://shop.example/landing?utm_source=Facebook&utm_medium=paid_social&utm_campaign=black%20friday&utm_content=video-1&utm_term=shoes",
        }));
        assert_eq!(t.source, "facebook");
        assert_eq!(t.medium, "paid_social");
        assert_eq!(t.campaign.as_deref(), Some("black friday"));
        assert_eq!((t.term.as_deref(), t.content.as_deref()), (Some("shoes"), Some("video-1")));
        assert_eq!(t.channel(), Channel::PaidSocial);
        assert_eq!(t.source_medium(), "facebook / paid_social");
    }

    #[test]
    fn a_click_id_alone_names_its_ad_network() {
        for (id, source, expected) in [
            ("gclid", "google", Channel::PaidSearch),
            ("gbraid", "google", Channel::PaidSearch),
            ("wbraid", "google", Channel::PaidSearch),
            ("msclkid", "bing", Channel::PaidSearch),
            ("ttclid", "tiktok", Channel::PaidSocial),
            ("li_fat_id", "linkedin", Channel::PaidSocial),
            ("fbclid", "facebook", Channel::OrganicSocial),
        ] {
            let t = touch(
                json!({"url": format!("https://shop.example/?{id}=Cj0KCQ"), "referrer": "https://blog.example/"}),
            );
            assert_eq!(
                (t.source.as_str(), t.click_id.as_deref(), t.channel()),
                (source, Some(id), expected),
                "{id}"
            );
        }
        // An empty click id is no click.
        assert!(touch(json!({"url": "https://shop.example/?gclid="})).is_direct());
    }

    #[test]
    fn a_referrer_is_a_search_engine_a_social_network_or_a_referral() {
        for (referrer, source, medium, expected) in [
            ("https://www.google.co.uk/", "google", "organic", Channel::OrganicSearch),
            ("https://www.google.com/search?q=x", "google", "organic", Channel::OrganicSearch),
            ("https://duckduckgo.com/", "duckduckgo", "organic", Channel::OrganicSearch),
            ("https://search.yahoo.co.jp/", "yahoo", "organic", Channel::OrganicSearch),
            ("https://yandex.ru/search", "yandex", "organic", Channel::OrganicSearch),
            ("https://search.brave.com/search?q=y", "brave", "organic", Channel::OrganicSearch),
            ("https://l.facebook.com/l.php", "facebook", "social", Channel::OrganicSocial),
            ("https://t.co/abc", "twitter", "social", Channel::OrganicSocial),
            ("https://www.linkedin.com/feed", "linkedin", "social", Channel::OrganicSocial),
            ("https://old.reddit.com/r/rust", "reddit", "social", Channel::OrganicSocial),
            ("https://news.ycombinator.com/item?id=1", "hacker news", "social", Channel::OrganicSocial),
            ("https://www.blog.example/post", "blog.example", "referral", Channel::Referral),
        ] {
            let t = touch(json!({"referrer": referrer, "url": "https://shop.example/"}));
            assert_eq!(
                (t.source.as_str(), t.medium.as_str(), t.channel()),
                (source, medium, expected),
                "{referrer}"
            );
        }
    }

    #[test]
    fn own_and_ignored_referrers_are_no_referral() {
        let ignored = vec!["paypal.com".to_owned(), "checkout.stripe.com".to_owned()];
        for referrer in [
            "https://www.paypal.com/checkoutnow",
            "https://checkout.stripe.com/pay/cs_1",
            "https://shop.example/cart",
            "https://eu.shop.example/cart",
        ] {
            let properties = json!({"referrer": referrer, "url": "https://www.shop.example/thanks"});
            let t = touch_of(properties.as_object().unwrap(), &ignored);
            assert!(t.is_direct(), "{referrer}: {t:?}");
        }
        // A domain that merely ends the same way is not a subdomain.
        let properties = json!({"referrer": "https://notpaypal.com/", "url": "https://shop.example/"});
        assert_eq!(touch_of(properties.as_object().unwrap(), &ignored).channel(), Channel::Referral);
    }

    #[test]
    fn nothing_at_all_is_direct_and_unreadable_urls_are_ignored() {
        assert_eq!(touch(json!({})), Touch::direct());
        assert_eq!(touch(json!({"referrer": "not a url", "url": 42})), Touch::direct());
        assert_eq!(Touch::direct().channel(), Channel::Direct);
        assert_eq!(Touch::direct().source_medium(), "(direct) / (none)");
    }

    #[test]
    fn a_campaign_without_a_source_is_not_direct() {
        let t = touch(json!({"utm_campaign": "spring"}));
        assert_eq!((t.source.as_str(), t.medium.as_str()), ("(not set)", "(not set)"));
        assert_eq!(t.channel(), Channel::Unassigned);
    }

    #[test]
    fn direct_needs_the_direct_source_and_no_medium() {
        assert_eq!(channel("(direct)", "(none)"), Channel::Direct);
        assert_eq!(channel("(direct)", "(not set)"), Channel::Direct);
        assert_eq!(channel("(direct)", "email"), Channel::Email);
    }

    #[test]
    fn paid_search_is_a_search_engine_with_a_paid_medium() {
        for medium in ["cpc", "ppc", "paidsearch", "paid", "retargeting", "cpv"] {
            assert_eq!(channel("google", medium), Channel::PaidSearch, "{medium}");
        }
        assert_eq!(channel("www.bing.com", "cpc"), Channel::PaidSearch);
    }

    #[test]
    fn paid_social_is_a_social_network_with_a_paid_medium() {
        assert_eq!(channel("facebook", "cpc"), Channel::PaidSocial);
        assert_eq!(channel("ig", "paid"), Channel::PaidSocial);
        assert_eq!(channel("linkedin", "paid_social"), Channel::PaidSocial);
    }

    #[test]
    fn display_is_a_display_medium() {
        for medium in ["display", "banner", "expandable", "interstitial", "cpm"] {
            assert_eq!(channel("adnetwork", medium), Channel::Display, "{medium}");
        }
    }

    #[test]
    fn paid_other_is_any_other_paid_medium() {
        assert_eq!(channel("partner-network", "cpc"), Channel::PaidOther);
        assert_eq!(channel("podcast", "paid"), Channel::PaidOther);
    }

    #[test]
    fn organic_social_is_a_social_network_or_a_social_medium() {
        assert_eq!(channel("twitter", "(not set)"), Channel::OrganicSocial);
        assert_eq!(channel("forum.example", "social-media"), Channel::OrganicSocial);
        assert_eq!(channel("pinterest.co.uk", "referral"), Channel::OrganicSocial);
    }

    #[test]
    fn organic_search_is_a_search_engine_or_the_organic_medium() {
        assert_eq!(channel("ecosia.org", "referral"), Channel::OrganicSearch);
        assert_eq!(channel("some-engine", "organic"), Channel::OrganicSearch);
    }

    #[test]
    fn email_is_an_email_source_or_medium() {
        assert_eq!(channel("newsletter", "email"), Channel::Email);
        assert_eq!(channel("e-mail", "(not set)"), Channel::Email);
        assert_eq!(channel("mailchimp", "e_mail"), Channel::Email);
    }

    #[test]
    fn affiliates_and_referrals_by_medium_and_the_rest_unassigned() {
        assert_eq!(channel("partner", "affiliate"), Channel::Affiliates);
        assert_eq!(channel("blog.example", "referral"), Channel::Referral);
        assert_eq!(channel("blog.example", "link"), Channel::Referral);
        assert_eq!(channel("qr-code", "print"), Channel::Unassigned);
    }

    #[test]
    fn host_labels_name_sites_across_country_suffixes() {
        assert_eq!(registrable_label("www.google.co.uk"), "google");
        assert_eq!(registrable_label("google.co.uk"), "google");
        assert_eq!(registrable_label("l.facebook.com"), "facebook");
        assert_eq!(registrable_label("yahoo.com.br"), "yahoo");
        assert_eq!(registrable_label("localhost"), "localhost");
        assert_eq!(known_name(SEARCH_ENGINES, "www.google.co.uk"), Some("google"));
        assert_eq!(known_name(SOCIAL_NETWORKS, "m.facebook.com"), Some("facebook"));
        assert_eq!(known_name(SOCIAL_NETWORKS, "example.com"), None);
        // `x` is Twitter as a source name, not every host labelled x.
        assert_eq!(known_name(SOCIAL_NETWORKS, "x"), Some("twitter"));
        assert_eq!(known_name(SOCIAL_NETWORKS, "x.ai"), None);
        assert_eq!(known_name(SOCIAL_NETWORKS, "l.instagram.com"), Some("instagram"));
    }

    #[test]
    fn ignored_domains_are_normalised_hosts() {
        assert_eq!(normalize_ignored_domain(" WWW.PayPal.com "), Some("paypal.com".into()));
        assert_eq!(
            normalize_ignored_domain("https://checkout.stripe.com/pay"),
            Some("checkout.stripe.com".into())
        );
        assert_eq!(normalize_ignored_domain("shop.example/"), Some("shop.example".into()));
        for bad in ["", "*.example.com", "two words.com", "a..b"] {
            assert_eq!(normalize_ignored_domain(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_ignore_list_is_normalised_deduplicated_and_refused_by_entry() {
        let body = json!({"domains": ["PayPal.com", "https://www.paypal.com/checkout", "shop.example"]});
        assert_eq!(parse_ignored_referrers(&body).unwrap(), ["paypal.com", "shop.example"]);
        assert_eq!(parse_ignored_referrers(&json!({"domains": []})).unwrap(), Vec::<String>::new());
        let fields = |body: Value| -> Vec<String> {
            parse_ignored_referrers(&body).unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(json!({"domains": ["ok.com", 7, "*.bad.com"]})), ["domains[1]", "domains[2]"]);
        assert_eq!(fields(json!({"domain": []})), ["domains"]);
        assert_eq!(fields(json!({"domains": vec!["a.com"; MAX_IGNORED_REFERRERS + 1]})), ["domains"]);
    }

    #[test]
    fn channel_names_are_ga4s() {
        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), 11);
        for channel in Channel::ALL {
            assert_eq!(serde_json::to_value(channel).unwrap(), json!(channel.as_str()));
        }
    }

    #[test]
    fn stored_fields_name_the_channel_beside_the_touch_and_read_back() {
        let properties = json!({"url": "https://shop.example/?utm_source=Google&utm_medium=CPC&utm_campaign=Spring&gclid=x"});
        let fields = CampaignFields::of(properties.as_object().unwrap(), &[]);
        let stored = serde_json::to_value(&fields).unwrap();
        assert_eq!(
            stored,
            json!({"channel": "Paid Search", "source": "google", "medium": "cpc", "campaign": "spring", "clickId": "gclid"})
        );
        assert_eq!(serde_json::from_value::<CampaignFields>(stored).unwrap(), fields);
        let direct = CampaignFields::of(&Map::new(), &[]);
        assert_eq!(
            serde_json::to_value(&direct).unwrap(),
            json!({"channel": "Direct", "source": "(direct)", "medium": "(none)"})
        );
    }
}
