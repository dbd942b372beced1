import { describe, expect, it } from 'vitest'
import { lineFormatOf, splitLines } from '../src/lines.js'
import { contentTypeOf, pathFilter } from '../src/paths.js'

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

describe('line splitting', () => {
  it('keeps physical line numbers, skips blank lines, strips CR and BOM', () => {
    const r = splitLines(enc('\uFEFFa\r\n\r\n  \nb\nc'), 'text')
    expect(r.records.map((x) => [x.line, dec(x.payload)])).toEqual([
      [1, 'a'],
      [4, 'b'],
      [5, 'c'],
    ])
  })

  it('CSV: header is not a record; an unclosed quote is refused with its line', () => {
    const r = splitLines(enc('\n\nh1,h2\n1,"a ""quoted"" word"\n'), 'csv')
    expect(r.header).toBe('h1,h2')
    expect(r.records.map((x) => [x.line, dec(x.payload)])).toEqual([[4, '1,"a ""quoted"" word"']])
    expect(() => splitLines(enc('h\n1,ok\n2,"open\n3,x\n'), 'csv')).toThrow(
      /line 3: quoted field is not closed/,
    )
  })

  it('JSONL: invalid JSON or UTF-8 names the line', () => {
    expect(() => splitLines(enc('{}\n\n[1,\n'), 'jsonl')).toThrow(/^line 3 is not valid JSON/)
    expect(() => splitLines(new Uint8Array([0x7b, 0x7d, 0x0a, 0x22, 0xff, 0x22]), 'jsonl')).toThrow(
      /line 2 is not valid UTF-8/,
    )
  })

  it('formats, content types and filters by path', () => {
    expect(lineFormatOf('a/B.CSV')).toBe('csv')
    expect(lineFormatOf('x.ndjson')).toBe('jsonl')
    expect(contentTypeOf('cad/part.step')).toBe('model/step')
    expect(contentTypeOf('noext')).toBe('application/octet-stream')
    const f = pathFilter(['**/*.json'], ['old/**'])
    expect(
      ['a.json', 'd/b.json', 'old/c.json', '.x.json', 'd/.h/e.json', 'f.json.tmp', 'g.csv'].filter(f),
    ).toEqual(['a.json', 'd/b.json'])
  })
})
