import { describe, expect, it } from 'vitest';
import { cutDeepNesting } from '../../src/tools/web/cut-deep-nesting.ts';
import { findPageTitle } from '../../src/tools/web/page-title.ts';

describe('findPageTitle', () => {
  it('reads the first title, whatever its case and attributes, with references decoded', () => {
    expect(findPageTitle('<html><head><TITLE lang="en">Baton &amp;\n the  page</Title ></head>')).toBe(
      'Baton & the page',
    );
    expect(findPageTitle('<title>First</title><title>Second</title>')).toBe('First');
  });

  it('ignores look-alike tags and finds nothing without a closing tag', () => {
    expect(findPageTitle('<titles>no</titles><title>Yes</title>')).toBe('Yes');
    expect(findPageTitle('<title>never closed')).toBeUndefined();
    expect(findPageTitle('<title')).toBeUndefined();
    expect(findPageTitle('<title></title>')).toBeUndefined();
  });

  it('scans a page of unclosed <title tags in linear time', () => {
    // The old pattern took 5 s on 240 KB of this; a linear scan of 2 MB takes milliseconds.
    expect(findPageTitle('<title'.repeat(350_000))).toBeUndefined();
    expect(findPageTitle(`<title>${'<title'.repeat(350_000)}`)).toBeUndefined();
  });
});

describe('cutDeepNesting', () => {
  it('leaves an ordinary page alone, unclosed paragraphs and list items included', () => {
    const page = `<html><body>${'<p>para <li>item <br> <img src=x>'.repeat(5000)}<script>if (a<b) x()</script></body></html>`;
    expect(cutDeepNesting(page, 100)).toEqual({ html: page, cut: false });
  });

  it('cuts where elements nest deeper than the limit', () => {
    const page = `${'<div>'.repeat(50)}deep${'</div>'.repeat(50)}`;
    const { html, cut } = cutDeepNesting(page, 10);
    expect(cut).toBe(true);
    expect(html).toBe('<div>'.repeat(10));
  });

  it('counts closed and self-closed elements out again', () => {
    const page = '<div><span>a</span><span/><!-- <div><div><div> --></div>'.repeat(1000);
    expect(cutDeepNesting(page, 2).cut).toBe(false);
  });
});
