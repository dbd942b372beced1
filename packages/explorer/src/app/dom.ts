/** A tiny element builder: h('a', { href: '#/' }, 'text', child). Strings become text nodes (never HTML). */
export type Child = Node | string | number | null | undefined | false
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | undefined | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v)
    else el.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c)
  return el
}

/** A two-column table of label → value. */
export function fields(rows: Array<[string, Child]>): HTMLTableElement {
  return h('table', { class: 'fields' }, h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v)))))
}

export function table(caption: string, head: string[], rows: Child[][]): HTMLTableElement {
  return h(
    'table',
    { class: 'list' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  )
}

export function link(href: string, text: string, cls = 'hash'): HTMLAnchorElement {
  return h('a', { href, class: cls }, text)
}

export function short(hex: string): string {
  return hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-8)}` : hex
}
