'use strict'

// Every relative link in README.md, CHANGELOG.md and docs/*.md resolves: the file or folder it
// names exists in the repository, and a #fragment names a heading of the Markdown file it points
// into (GitHub's anchors: the heading's text lower-cased, punctuation dropped, spaces as hyphens,
// -1, -2... for repeats). Links to other sites are not fetched. Proves that moving or renaming a
// file, or rewording a heading, cannot leave a dangling link in the documentation.

const { test } = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')

function documents () {
  const docs = fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)
  return ['README.md', 'CHANGELOG.md', ...docs]
}

// The text outside fenced code blocks, with inline code spans blanked (a link inside code is
// not a link), line by line so that failures can name a line.
function proseLines (markdown) {
  let fenced = false
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced
      return ''
    }
    return fenced ? '' : line
  })
}

// GitHub's anchor for a heading's text.
function slug (heading) {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link: its text
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

function anchors (markdown) {
  const seen = new Map()
  const out = new Set()
  for (const line of proseLines(markdown)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (!m) continue
    const base = slug(m[1])
    const n = seen.get(base) || 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

// The links of one document that do not resolve, as "file:line: target (why)".
function brokenLinks (file, markdown, exists = (p) => fs.existsSync(p), read = (p) => fs.readFileSync(p, 'utf8')) {
  const broken = []
  proseLines(markdown).forEach((line, i) => {
    const code = line.replace(/`[^`]*`/g, (s) => ' '.repeat(s.length))
    for (const m of code.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto:...
      const [ref, fragment] = target.split('#')
      const resolved = ref === '' ? path.join(root, file) : path.resolve(path.dirname(path.join(root, file)), decodeURI(ref))
      const where = `${file}:${i + 1}: ${target}`
      if (!resolved.startsWith(root + path.sep) && resolved !== root) {
        broken.push(`${where} (outside the repository)`)
      } else if (!exists(resolved)) {
        broken.push(`${where} (no such file)`)
      } else if (fragment !== undefined && resolved.endsWith('.md') && !anchors(read(resolved)).has(fragment)) {
        broken.push(`${where} (no such heading)`)
      }
    }
  })
  return broken
}

test('every relative link in the README, the changelog and docs/ resolves', () => {
  const broken = []
  let links = 0
  for (const file of documents()) {
    const markdown = fs.readFileSync(path.join(root, file), 'utf8')
    links += (markdown.match(/\]\((?![a-z]+:)/g) || []).length
    broken.push(...brokenLinks(file, markdown))
  }
  assert.ok(links > 50, `expected the documents to link to each other (found ${links} relative links)`)
  assert.deepStrictEqual(broken, [])
})

test('the checker finds a missing file, a missing heading and a link that leaves the repository', () => {
  const markdown = [
    '# A heading',
    '[fine](#a-heading) [fine](docs/extensions.md#batch-sends) `[in code](nowhere.md)`',
    '[gone](no/such/file.md) [bad anchor](#no-heading) [out](../../etc/passwd)',
    '```',
    '[in a fence](nowhere.md)',
    '```'
  ].join('\n')
  const read = (p) => p === path.join(root, 'README.md') ? markdown : fs.readFileSync(p, 'utf8')
  assert.deepStrictEqual(brokenLinks('README.md', markdown, fs.existsSync, read), [
    'README.md:3: no/such/file.md (no such file)',
    'README.md:3: #no-heading (no such heading)',
    'README.md:3: ../../etc/passwd (outside the repository)'
  ])
})

test('anchors follow GitHub: punctuation dropped, code and links unwrapped, repeats numbered', () => {
  const got = anchors([
    '## `bind({ fd })` tells descriptor kinds apart itself',
    '## Differences from node:dgram',
    '### Where a datagram\'s time goes (callback-paced)',
    '## async_hooks',
    '## Notes',
    '## Notes',
    '```',
    '# not a heading',
    '```'
  ].join('\n'))
  assert.deepStrictEqual([...got], [
    'bind-fd--tells-descriptor-kinds-apart-itself',
    'differences-from-nodedgram',
    'where-a-datagrams-time-goes-callback-paced',
    'async_hooks',
    'notes',
    'notes-1'
  ])
})
