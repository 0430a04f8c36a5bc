import { describe, expect, it } from 'vitest';
import { campaignOf, externalReferrer } from '../src/campaign';

describe('campaign capture', () => {
  it('reads utm_* and click ids from the landing URL', () => {
    const found = campaignOf(
      'https://shop.example/?utm_source=Newsletter&utm_medium=email&utm_campaign=spring&gclid=abc&other=1',
      '',
    );
    expect(found).toEqual({ utm_source: 'Newsletter', utm_medium: 'email', utm_campaign: 'spring', gclid: 'abc' });
  });

  it('keeps another site as the referrer, never this one', () => {
    expect(campaignOf('https://shop.example/a', 'https://www.google.com/')).toEqual({ referrer: 'https://www.google.com/' });
    expect(campaignOf('https://shop.example/a', 'https://shop.example/b')).toEqual({});
    expect(externalReferrer('not a url', 'shop.example')).toBeUndefined();
    expect(externalReferrer('', 'shop.example')).toBeUndefined();
  });

  it('gives nothing for an unparsable page URL', () => {
    expect(campaignOf('::', 'https://a.example/')).toEqual({});
  });
});
