// Minimal SVG charts for the evaluation report (no dependency): line charts with several series and grouped bars.
const W = 640
const H = 360
const M = { l: 70, r: 20, t: 40, b: 60 }
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf']

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) hi = lo + 1
  const step0 = (hi - lo) / n
  const mag = 10 ** Math.floor(Math.log10(step0))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0)
  const out = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

const fmtTick = (v) => (Math.abs(v) >= 10_000 ? `${v / 1000}k` : String(v))

function logTicks(lo, hi) {
  const out = []
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e)
  return out
}

function frame({ title, xLabel, yLabel }) {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${M.l + (W - M.l - M.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${M.t + (H - M.t - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  ]
}

function axes(out, xs, ys, xTickLabels) {
  const x0 = M.l
  const y0 = H - M.b
  out.push(`<line x1="${x0}" y1="${y0}" x2="${W - M.r}" y2="${y0}" stroke="black"/>`, `<line x1="${x0}" y1="${M.t}" x2="${x0}" y2="${y0}" stroke="black"/>`)
  for (const t of ys) {
    out.push(`<line x1="${x0 - 4}" y1="${t.y}" x2="${W - M.r}" y2="${t.y}" stroke="#ddd"/>`)
    out.push(`<text x="${x0 - 6}" y="${t.y + 4}" text-anchor="end">${esc(t.label)}</text>`)
  }
  for (const t of xs) {
    out.push(`<line x1="${t.x}" y1="${y0}" x2="${t.x}" y2="${y0 + 4}" stroke="black"/>`)
    out.push(`<text x="${t.x}" y="${y0 + 18}" text-anchor="middle">${esc(xTickLabels ? xTickLabels(t) : t.label)}</text>`)
  }
}

function legend(out, names) {
  names.forEach((n, i) => {
    const x = M.l + 10
    const y = M.t + 8 + i * 16
    out.push(`<rect x="${x}" y="${y - 8}" width="12" height="10" fill="${COLORS[i % COLORS.length]}"/>`)
    out.push(`<text x="${x + 18}" y="${y + 1}">${esc(n)}</text>`)
  })
}

/**
 * Line chart. series: [{ name, points: [[x, y], ...], dashed? }]. Options: logX, logY, yMin (default 0), hLines: [{ y, label }].
 */
export function lineChart({ title, xLabel, yLabel, series, logX = false, logY = false, yMin, hLines = [] }) {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  const allY = [...pts.map((p) => p[1]), ...hLines.map((h) => h.y)]
  let xlo = Math.min(...pts.map((p) => p[0]))
  let xhi = Math.max(...pts.map((p) => p[0]))
  let ylo = yMin ?? (logY ? Math.min(...allY) : 0)
  let yhi = Math.max(...allY)
  if (!pts.length) [xlo, xhi, ylo, yhi] = [0, 1, 0, 1]
  if (xhi === xlo) [xlo, xhi] = logX ? [xlo / 2, xhi * 2] : [xlo - 1, xhi + 1]
  const fx = logX ? Math.log10 : (v) => v
  const fy = logY ? Math.log10 : (v) => v
  const xTicks = logX ? logTicks(xlo, xhi) : niceTicks(xlo, xhi)
  const yTicks = logY ? logTicks(Math.max(ylo, 1e-9), yhi) : niceTicks(ylo, yhi * 1.05)
  const xa = fx(Math.min(xlo, xTicks[0]))
  const xb = fx(Math.max(xhi, xTicks.at(-1)))
  const ya = fy(Math.min(logY ? Math.max(ylo, 1e-9) : ylo, yTicks[0]))
  const yb = fy(Math.max(yhi, yTicks.at(-1)))
  const X = (v) => M.l + ((fx(v) - xa) / (xb - xa || 1)) * (W - M.l - M.r)
  const Y = (v) => H - M.b - ((fy(v) - ya) / (yb - ya || 1)) * (H - M.t - M.b)
  const out = frame({ title, xLabel, yLabel })
  axes(
    out,
    xTicks.map((v) => ({ x: X(v), label: fmtTick(v) })),
    yTicks.map((v) => ({ y: Y(v), label: fmtTick(v) })),
  )
  for (const h of hLines) {
    out.push(`<line x1="${M.l}" y1="${Y(h.y)}" x2="${W - M.r}" y2="${Y(h.y)}" stroke="#888" stroke-dasharray="2 3"/>`)
    out.push(`<text x="${W - M.r - 4}" y="${Y(h.y) - 4}" text-anchor="end" fill="#555">${esc(h.label)}</text>`)
  }
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    if (p.length > 1) {
      out.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${p.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`)
    }
    if (p.length <= 60) for (const [x, y] of p) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${c}"/>`)
  })
  legend(
    out,
    series.map((s) => s.name),
  )
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/** Grouped bar chart. groups: category labels; series: [{ name, values: [...] }] (one value per group). */
export function barChart({ title, xLabel, yLabel, groups, series, logY = false }) {
  const vals = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && (!logY || v > 0))
  const yhi = Math.max(1e-9, ...vals)
  const ylo = logY ? Math.min(...vals) : 0
  const yTicks = logY ? logTicks(ylo, yhi) : niceTicks(0, yhi * 1.05)
  const fy = logY ? Math.log10 : (v) => v
  const ya = fy(logY ? yTicks[0] : 0)
  const yb = fy(Math.max(yhi, yTicks.at(-1)))
  const Y = (v) => H - M.b - ((fy(v) - ya) / (yb - ya || 1)) * (H - M.t - M.b)
  const gw = (W - M.l - M.r) / groups.length
  const bw = (gw * 0.8) / series.length
  const out = frame({ title, xLabel, yLabel })
  axes(
    out,
    groups.map((g, i) => ({ x: M.l + gw * (i + 0.5), label: g })),
    yTicks.map((v) => ({ y: Y(v), label: fmtTick(v) })),
  )
  series.forEach((s, si) => {
    s.values.forEach((v, gi) => {
      if (!Number.isFinite(v) || (logY && v <= 0)) return
      const x = M.l + gw * gi + gw * 0.1 + bw * si
      const y = Y(v)
      out.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(H - M.b - y).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"/>`)
    })
  })
  legend(
    out,
    series.map((s) => s.name),
  )
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
