import { describe, expect, it } from 'vitest';
import { emptyKeyDraft, mapKeyFieldErrors, normalizeOrigin, sdkSnippet, splitOrigins, toCreateKey, validateKeyDraft } from '../src/lib/keys';

describe('key form logic', () => {
  it('splits origins by line or comma and normalises them as the API does', () => {
    expect(splitOrigins(' https://a.example \n\n,https://b.example:8443 , ')).toEqual(['https://a.example', 'https://b.example:8443']);
    expect(normalizeOrigin('https://Shop.Example.com/')).toBe('https://shop.example.com');
    expect(normalizeOrigin('http://localhost:8080')).toBe('http://localhost:8080');
    expect(normalizeOrigin('http://[::1]:3000')).toBe('http://[::1]:3000');
    for (const bad of ['*', 'shop.example.com', 'ftp://a.b', 'https://a.b/path', 'https://a.b?x', 'https://', 'https://*.a.b']) {
      expect(normalizeOrigin(bad), bad).toBeNull();
    }
  });

  it('validates the label and, for ingest keys only, the origins', () => {
    expect(validateKeyDraft(emptyKeyDraft())).toEqual({ label: 'A label is required.' });
    expect(validateKeyDraft({ label: 'x'.repeat(101), scope: 'full', origins: 'not an origin' })).toEqual({ label: 'At most 100 characters.' });
    expect(validateKeyDraft({ label: 'Web shop', scope: 'ingest', origins: 'https://ok.example\nhttps://a.b/path' }).origins).toMatch(/^Not an origin: https:\/\/a\.b\/path\./);
    expect(validateKeyDraft({ label: 'Web shop', scope: 'ingest', origins: Array.from({ length: 21 }, (_, i) => `https://s${i}.example`).join('\n') })).toEqual({
      origins: 'At most 20 origins.',
    });
    expect(validateKeyDraft({ label: ' Web shop ', scope: 'ingest', origins: 'https://shop.example.com' })).toEqual({});
  });

  it('builds the API body: trimmed label, de-duplicated origins, none for full keys', () => {
    expect(toCreateKey({ label: ' Web shop ', scope: 'ingest', origins: 'https://Shop.example.com/, https://shop.example.com' })).toEqual({
      scope: 'ingest',
      label: 'Web shop',
      allowedOrigins: ['https://shop.example.com'],
    });
    expect(toCreateKey({ label: 'Server', scope: 'ingest', origins: '' })).toEqual({ scope: 'ingest', label: 'Server' });
    expect(toCreateKey({ label: 'CI', scope: 'full', origins: 'https://shop.example.com' })).toEqual({ scope: 'full', label: 'CI' });
  });

  it('puts the API field errors on the fields, naming the refused origin', () => {
    const sent = { scope: 'ingest' as const, label: '', allowedOrigins: ['https://ok.example', 'https://bad.example/x'] };
    const { fields, other } = mapKeyFieldErrors(
      [
        { field: 'label', message: 'must be a string of 1 to 100 characters' },
        { field: 'allowedOrigins[1]', message: 'must be an origin like https://shop.example (no path, no *)' },
        { field: 'allowedOrigins', message: 'only ingest keys are used from web pages' },
        { field: 'somethingElse', message: 'is odd' },
      ],
      sent,
    );
    expect(fields).toEqual({
      label: 'Label must be a string of 1 to 100 characters.',
      origins: 'https://bad.example/x must be an origin like https://shop.example (no path, no *). Allowed origins: only ingest keys are used from web pages.',
    });
    expect(other).toEqual([{ field: 'somethingElse', message: 'is odd' }]);
  });
});

describe('the SDK snippet', () => {
  it('loads /sdk.js from the API host (else the page) with the key', () => {
    expect(sdkSnippet('https://api.example/', 'pk_1', 'https://dash.example')).toBe(
      '<script src="https://api.example/sdk.js" data-key="pk_1" defer></script>',
    );
    expect(sdkSnippet('', 'pk_"2', 'http://127.0.0.1:3000')).toBe(
      '<script src="http://127.0.0.1:3000/sdk.js" data-key="pk_&quot;2" defer></script>',
    );
  });
});
