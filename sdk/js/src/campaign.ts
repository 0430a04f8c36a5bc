// What a landing page's URL and referrer say about where the visit came from.
// The server derives channels and first touch from these (it also reads a
// `url`'s query itself); the SDK attaches them to the landing's page view.

export const CAMPAIGN_PARAMS = [
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
  'gclid',
  'gbraid',
  'wbraid',
  'fbclid',
  'msclkid',
  'ttclid',
  'li_fat_id',
];

/** The campaign properties of a landing at `href` from `referrer`: the URL's
 * `utm_*` and click ids, and the referrer when it is another site's. */
export function campaignOf(href: string, referrer: string): Record<string, string> {
  const found: Record<string, string> = {};
  let here: URL;
  try {
    here = new URL(href);
  } catch {
    return found;
  }
  for (const name of CAMPAIGN_PARAMS) {
    const value = here.searchParams.get(name);
    if (value) found[name] = value;
  }
  const from = externalReferrer(referrer, here.host);
  if (from) found.referrer = from;
  return found;
}

/** `referrer` unless it is empty, unparsable or this site's own page. */
export function externalReferrer(referrer: string, host: string): string | undefined {
  if (!referrer) return undefined;
  try {
    return new URL(referrer).host === host ? undefined : referrer;
  } catch {
    return undefined;
  }
}
