'use strict'

// Turns bench/run.js's results into a markdown table (for the terminal and the README) and an SVG
// chart (hand-written, no dependencies). Pure functions of the results object.

function median (values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

// Median of every numeric field over the successful trials.
function summarize (trials) {
  const ok = trials.filter((t) => !t.error)
  if (ok.length === 0) return null
  const out = { trials: ok.length }
  for (const key of Object.keys(ok[0])) {
    if (typeof ok[0][key] === 'number') out[key] = median(ok.map((t) => t[key]))
  }
  // Spread of the headline number, to show how noisy the row was.
  const key = 'rate' in out ? 'rate' : 'p50_us'
  const head = ok.map((t) => t[key]).filter(Number.isFinite)
  if (head.length > 1 && out[key]) out.spread = (Math.max(...head) - Math.min(...head)) / out[key]
  return out
}

const fmtRate = (v) => {
  if (v == null) return 'n/a'
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`
  if (v >= 1e3) return `${(v / 1e3).toFixed(0)} k`
  return v.toFixed(0)
}
const fmtNum = (v, digits = 2) => (v == null ? 'n/a' : v.toFixed(digits))
const fmtPct = (v) => (v == null ? 'n/a' : `${(v * 100).toFixed(v < 0.01 && v > 0 ? 2 : 1)} %`)
const fmtMb = (kb) => (kb == null ? 'n/a' : `${(kb / 1024).toFixed(0)}`)
const ratio = (v, base) => (v == null || !base ? '' : `${(v / base).toFixed(2)}×`)
const withRatio = (text, v, base, isBase) => (v == null || isBase || !base ? text : `${text} (${ratio(v, base)})`)

function naText (cfg) {
  if (!cfg.na) return 'n/a'
  const why = cfg.na.length > 140 ? `${cfg.na.slice(0, 137)}...` : cfg.na
  return `n/a: ${why.replace(/\|/g, '\\|')}`
}

function throughputTable (results) {
  const { config } = results
  const lines = [
    `**One-way throughput** — receiver-side datagrams/s, median of ${config.trialsThroughput} × ${config.seconds} s; ` +
      'ratios against node→node in the same size and placement (datagrams/s: higher is better; CPU: lower is better).',
    '',
    '| size | cores | pairing | datagrams/s | vs node | loss | sender CPU µs/dgram | receiver CPU µs/dgram | peak RSS MB (tx / rx) |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|'
  ]
  for (const cfg of results.throughput) {
    const base = results.throughput.find(
      (c) => c.size === cfg.size && c.placement === cfg.placement && (cfg.versus ? c.name === cfg.versus : c.baseline)
    )
    const b = base && base.median
    const m = cfg.median
    const head = `| ${cfg.size} B | ${cfg.placement} | ${cfg.name} `
    if (!m) {
      lines.push(`${head}| ${naText(cfg)} | | | | | |`)
      continue
    }
    lines.push(
      `${head}| ${fmtRate(m.rate)} | ${cfg.baseline ? '1.00×' : ratio(m.rate, b && b.rate)} | ${fmtPct(m.loss)} ` +
        `| ${withRatio(fmtNum(m.tx_cpu_us_per_dgram), m.tx_cpu_us_per_dgram, b && b.tx_cpu_us_per_dgram, cfg.baseline)} ` +
        `| ${withRatio(fmtNum(m.rx_cpu_us_per_dgram), m.rx_cpu_us_per_dgram, b && b.rx_cpu_us_per_dgram, cfg.baseline)} ` +
        `| ${fmtMb(m.tx_maxrss_kb)} / ${fmtMb(m.rx_maxrss_kb)} |`
    )
  }
  return lines.join('\n')
}

function rttTable (results) {
  const { config } = results
  const lines = [
    `**Ping-pong round trip** — ${config.pingSize} B, one datagram in flight, median over ${config.trialsRtt} trials of ` +
      `each trial's p50/p99 (${config.seconds} s each after ${config.warmup} s warm-up); lower is better.`,
    '',
    '| cores | pair | p50 µs | vs node | p99 µs | vs node | client CPU µs/round trip | peak RSS MB (client / echo) |',
    '|---|---|---:|---:|---:|---:|---:|---:|'
  ]
  for (const cfg of results.rtt) {
    const base = results.rtt.find((c) => c.placement === cfg.placement && c.baseline)
    const b = base && base.median
    const m = cfg.median
    const head = `| ${cfg.placement} | ${cfg.name} `
    if (!m) {
      lines.push(`${head}| ${naText(cfg)} | | | | | |`)
      continue
    }
    lines.push(
      `${head}| ${fmtNum(m.p50_us, 1)} | ${cfg.baseline ? '1.00×' : ratio(m.p50_us, b && b.p50_us)} ` +
        `| ${fmtNum(m.p99_us, 1)} | ${cfg.baseline ? '1.00×' : ratio(m.p99_us, b && b.p99_us)} ` +
        `| ${withRatio(fmtNum(m.client_cpu_us_per_rt), m.client_cpu_us_per_rt, b && b.client_cpu_us_per_rt, cfg.baseline)} ` +
        `| ${fmtMb(m.client_maxrss_kb)} / ${fmtMb(m.server_maxrss_kb)} |`
    )
  }
  return lines.join('\n')
}

// How much else ran during the trials (see run.js): numbers from a busy machine say so.
function loadNote (results) {
  const trials = [...results.throughput, ...results.rtt].flatMap((c) => c.trials).filter((t) => !t.error)
  const bg = trials.map((t) => t.bg_pct).filter(Number.isFinite)
  if (bg.length === 0) return ''
  const steal = trials.map((t) => t.steal_pct).filter(Number.isFinite)
  const busy = bg.filter((v) => v > 10).length
  return (
    `\nOther processes used a median ${median(bg).toFixed(1)} % (max ${Math.max(...bg).toFixed(0)} %) of the machine's CPU ` +
    `during the trials; ${busy} of ${bg.length} trials above 10 %. Hypervisor steal: max ${Math.max(0, ...steal).toFixed(1)} %.\n`
  )
}

function markdown (results) {
  const { meta, config } = results
  const header =
    `Node ${meta.node}, Linux ${meta.kernel}, ${meta.cpus} × ${meta.cpuModel}; dgram-rs ${meta.commit}; ` +
    `${config.quick ? 'quick mode, ' : ''}${config.seconds} s per trial, sender bursts of ${config.burst}; ` +
    `net.core.rmem_default ${meta.rmemDefault} B. "across cores": sender/client on CPU 0, receiver/echo on CPU 1; ` +
    '"one core": both on CPU 0.'
  return `${header}\n\n${throughputTable(results)}\n\n${rttTable(results)}\n${loadNote(results)}`
}

// ---------------------------------------------------------------------------------------------
// SVG

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function svg (results) {
  const W = 1060
  const labelW = 200
  const barX = labelW + 10
  const barMax = 520
  const barH = 16
  const gap = 4
  const parts = []
  let y = 20

  const text = (x, yy, s, attrs = '') => parts.push(`<text x="${x}" y="${yy}" ${attrs}>${esc(s)}</text>`)

  text(10, y, 'dgram-rs vs node:dgram', 'class="title"')
  y += 18
  const { meta, config } = results
  text(10, y, `Node ${meta.node} · Linux ${meta.kernel} · ${meta.cpus} × ${meta.cpuModel} · ${config.seconds} s/trial · ${meta.date}`, 'class="note"')
  y += 28

  // Throughput: one group per size × placement. The scale is set by the rows within 3× of the best
  // JavaScript row, so their differences stay visible; a bar beyond it (GSO/GRO moves tens of times
  // more) is cut with a break mark and keeps its number.
  text(10, y, 'One-way throughput — receiver-side datagrams/s (median)', 'class="h"')
  y += 10
  const groups = []
  for (const cfg of results.throughput) {
    const key = `${cfg.size} B, ${cfg.placement}`
    let g = groups.find((x) => x.key === key)
    if (!g) groups.push((g = { key, rows: [] }))
    g.rows.push(cfg)
  }
  for (const g of groups) {
    y += 18
    text(10, y, g.key, 'class="g"')
    y += 6
    const rates = g.rows.filter((c) => c.median).map((c) => c.median.rate)
    const jsMax = Math.max(0, ...g.rows.filter((c) => !c.reference && c.median).map((c) => c.median.rate))
    const inScale = jsMax ? rates.filter((v) => v <= 3 * jsMax) : rates
    const scaleMax = Math.max(0, ...inScale) * 1.05 || 1
    const base = g.rows.find((c) => c.baseline)
    for (const cfg of g.rows) {
      const v = cfg.median && cfg.median.rate
      text(labelW, y + barH - 4, cfg.name, 'text-anchor="end"')
      if (v == null) {
        text(barX, y + barH - 4, cfg.na ? `n/a (${cfg.na})`.slice(0, 90) : 'n/a', 'class="na"')
      } else {
        const cut = v > scaleMax
        const w = Math.max(1, (Math.min(v, scaleMax) / scaleMax) * barMax)
        parts.push(`<rect x="${barX}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${cfg.color}"/>`)
        if (cut) {
          const bx = barX + w - 30
          parts.push(`<path d="M${bx} ${y - 1} l6 ${barH + 2} M${bx + 6} ${y - 1} l6 ${barH + 2}" stroke="#fff" stroke-width="3"/>`)
        }
        const versus = cfg.versus ? g.rows.find((c) => c.name === cfg.versus) : base
        const b = versus && versus.median && versus.median.rate
        const r = b && !cfg.baseline && versus !== cfg ? ` · ${(v / b).toFixed(2)}× node` : ''
        text(barX + w + 6, y + barH - 4, `${fmtRate(v)}/s · loss ${fmtPct(cfg.median.loss)}${r}`)
      }
      y += barH + gap
    }
  }

  // Round-trip time: p50 bar, with a whisker to p99.
  y += 30
  text(10, y, 'Ping-pong round trip — p50 bar, whisker to p99 (µs, median of trials; lower is better)', 'class="h"')
  y += 10
  const places = [...new Set(results.rtt.map((c) => c.placement))]
  for (const place of places) {
    const rows = results.rtt.filter((c) => c.placement === place)
    y += 18
    text(10, y, place, 'class="g"')
    y += 6
    // A p99 far out (a VM's scheduling hiccup) would flatten every p50 bar: the scale stops at 3× the
    // largest p50, and a longer whisker ends in an arrow.
    const meds = rows.filter((c) => c.median).map((c) => c.median)
    const max = Math.max(1, Math.min(Math.max(0, ...meds.map((m) => m.p99_us)), 3 * Math.max(0, ...meds.map((m) => m.p50_us)))) * 1.05
    const base = rows.find((c) => c.baseline)
    for (const cfg of rows) {
      text(labelW, y + barH - 4, cfg.name, 'text-anchor="end"')
      const m = cfg.median
      if (!m) {
        text(barX, y + barH - 4, cfg.na ? `n/a (${cfg.na})`.slice(0, 90) : 'n/a', 'class="na"')
      } else {
        const w50 = Math.max(1, (m.p50_us / max) * barMax)
        const w99 = Math.max(w50, (Math.min(m.p99_us, max) / max) * barMax)
        const x99 = barX + w99
        const end = m.p99_us > max ? `M${x99 - 6} ${y + 3} L${x99} ${y + barH / 2} L${x99 - 6} ${y + barH - 3}` : `M${x99} ${y + 3} V${y + barH - 3}`
        parts.push(`<rect x="${barX}" y="${y}" width="${w50.toFixed(1)}" height="${barH}" fill="${cfg.color}"/>`)
        parts.push(`<path d="M${barX + w50} ${y + barH / 2} H${x99} ${end}" stroke="#333" stroke-width="1.5" fill="none"/>`)
        const b = base && base.median
        const r = b && !cfg.baseline ? ` · ${(m.p50_us / b.p50_us).toFixed(2)}× node` : ''
        text(barX + w99 + 6, y + barH - 4, `p50 ${m.p50_us.toFixed(1)} · p99 ${m.p99_us.toFixed(1)} µs${r}`)
      }
      y += barH + gap
    }
  }
  y += 20
  const H = y
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">\n` +
    '<style>.title{font-size:18px;font-weight:bold}.h{font-size:14px;font-weight:bold}.g{font-weight:bold;fill:#333}' +
    '.note{fill:#666;font-size:11px}.na{fill:#999;font-style:italic}</style>\n' +
    `<rect width="${W}" height="${H}" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
  )
}

module.exports = { median, summarize, markdown, svg }
