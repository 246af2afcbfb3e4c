// A small, forgiving HTML parser for k6/html: the tree a journey needs to pull a CSRF token,
// read a form or follow a link. It keeps what browsers keep (void elements, raw-text script and
// style, implied end tags for p/li/option/td/tr..., an html/head/body skeleton) and never throws.

export interface DomNode {
  type: 1 | 3 | 8 | 9 | 10 // element, text, comment, document, doctype
  /** Lower-case tag name; "#text", "#comment", "#document", "html" (doctype). */
  name: string
  attrs: [string, string][]
  children: DomNode[]
  parent: DomNode | null
  /** Text and comment content. */
  data: string
}

const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr'])
const RAW_TEXT = new Set(['script', 'style'])
const RCDATA = new Set(['textarea', 'title'])
const CLOSES_P = new Set([
  'address', 'article', 'aside', 'blockquote', 'details', 'div', 'dl', 'fieldset', 'figcaption', 'figure', 'footer', 'form',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'main', 'menu', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'ul',
])
const HEAD_ELEMENTS = new Set(['title', 'meta', 'link', 'base', 'style', 'script', 'noscript'])
/** Opening one of the keys closes the open elements listed, up to the scope boundaries. */
const IMPLIED_END: Record<string, { closes: string[]; scope: string[] }> = {
  li: { closes: ['li'], scope: ['ul', 'ol'] },
  dt: { closes: ['dt', 'dd'], scope: ['dl'] },
  dd: { closes: ['dt', 'dd'], scope: ['dl'] },
  option: { closes: ['option'], scope: ['select', 'datalist', 'optgroup'] },
  optgroup: { closes: ['option', 'optgroup'], scope: ['select'] },
  tr: { closes: ['tr', 'td', 'th'], scope: ['table', 'thead', 'tbody', 'tfoot'] },
  td: { closes: ['td', 'th'], scope: ['tr', 'table'] },
  th: { closes: ['td', 'th'], scope: ['tr', 'table'] },
  thead: { closes: ['thead', 'tbody', 'tfoot', 'tr', 'td', 'th'], scope: ['table'] },
  tbody: { closes: ['thead', 'tbody', 'tfoot', 'tr', 'td', 'th'], scope: ['table'] },
  tfoot: { closes: ['thead', 'tbody', 'tfoot', 'tr', 'td', 'th'], scope: ['table'] },
}

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', copy: '\u00a9', reg: '\u00ae', trade: '\u2122',
  hellip: '\u2026', mdash: '\u2014', ndash: '\u2013', laquo: '\u00ab', raquo: '\u00bb', euro: '\u20ac', pound: '\u00a3',
  yen: '\u00a5', cent: '\u00a2', times: '\u00d7', divide: '\u00f7', middot: '\u00b7', bull: '\u2022', lsquo: '\u2018',
  rsquo: '\u2019', ldquo: '\u201c', rdquo: '\u201d', deg: '\u00b0', sect: '\u00a7', para: '\u00b6', shy: '\u00ad',
}

export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z][a-z0-9]*);?/gi, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10)
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd'
    }
    return ENTITIES[ref] ?? ENTITIES[ref.toLowerCase()] ?? whole
  })
}

function node(type: DomNode['type'], name: string, parent: DomNode | null, data = ''): DomNode {
  return { type, name, attrs: [], children: [], parent, data }
}

function append(parent: DomNode, child: DomNode): void {
  child.parent = parent
  parent.children.push(child)
}

export function parseDocument(html: string): DomNode {
  const doc = node(9, '#document', null)
  const stack: DomNode[] = [doc]
  const current = () => stack[stack.length - 1]
  const text = (data: string) => {
    if (!data) return
    const parent = current()
    const last = parent.children[parent.children.length - 1]
    if (last && last.type === 3) last.data += data
    else append(parent, node(3, '#text', parent, data))
  }
  const closeTo = (i: number) => {
    stack.length = i
  }
  const openIndex = (name: string, scope: string[] = []): number => {
    for (let i = stack.length - 1; i > 0; i--) {
      if (stack[i].name === name) return i
      if (scope.includes(stack[i].name)) return -1
    }
    return -1
  }

  let i = 0
  const n = html.length
  while (i < n) {
    const lt = html.indexOf('<', i)
    if (lt < 0) {
      text(decodeEntities(html.slice(i)))
      break
    }
    if (lt > i) text(decodeEntities(html.slice(i, lt)))
    i = lt
    if (html.startsWith('<!--', i)) {
      const end = html.indexOf('-->', i + 4)
      const stop = end < 0 ? n : end
      append(current(), node(8, '#comment', current(), html.slice(i + 4, stop)))
      i = end < 0 ? n : end + 3
      continue
    }
    if (html[i + 1] === '!' || html[i + 1] === '?') {
      const end = html.indexOf('>', i)
      const body = html.slice(i + 2, end < 0 ? n : end)
      if (/^doctype/i.test(body)) append(doc, node(10, 'html', doc, body.slice(7).trim()))
      i = end < 0 ? n : end + 1
      continue
    }
    const endTag = /^<\/([a-zA-Z][^\s/>]*)[^>]*>?/.exec(html.slice(i, i + 256))
    if (endTag) {
      const name = endTag[1].toLowerCase()
      const at = openIndex(name)
      if (at > 0) closeTo(at)
      i += endTag[0].length
      continue
    }
    const start = parseStartTag(html, i)
    if (!start) {
      text('<')
      i++
      continue
    }
    i = start.end
    const name = start.name
    const implied = IMPLIED_END[name]
    if (implied) {
      for (const closes of implied.closes) {
        const at = openIndex(closes, implied.scope)
        if (at > 0) closeTo(at)
      }
    }
    if (CLOSES_P.has(name)) {
      const at = openIndex('p', ['button', 'table', 'td', 'th'])
      if (at > 0) closeTo(at)
    }
    const el = node(1, name, current())
    el.attrs = start.attrs
    append(current(), el)
    if (VOID.has(name)) continue // as browsers: `<div/>` opens a div, only void elements self-close
    if (RAW_TEXT.has(name) || RCDATA.has(name)) {
      // Their content is text up to the matching end tag, whatever it looks like.
      const rest = html.slice(i)
      const m = new RegExp(`</${name}(?=[\\s/>])[^>]*>?`, 'i').exec(rest)
      const content = m ? rest.slice(0, m.index) : rest
      if (content) append(el, node(3, '#text', el, RCDATA.has(name) ? decodeEntities(content) : content))
      i = m ? i + m.index + m[0].length : n
      continue
    }
    stack.push(el)
  }
  skeleton(doc)
  return doc
}

function parseStartTag(html: string, from: number): { name: string; attrs: [string, string][]; end: number } | null {
  const m = /^<([a-zA-Z][^\s/>]*)/.exec(html.slice(from, from + 128))
  if (!m) return null
  const name = m[1].toLowerCase()
  const attrs: [string, string][] = []
  let i = from + m[0].length
  const n = html.length
  for (;;) {
    while (i < n && /\s/.test(html[i])) i++
    if (i >= n) return { name, attrs, end: n }
    if (html[i] === '>') return { name, attrs, end: i + 1 }
    if (html.startsWith('/>', i)) return { name, attrs, end: i + 2 }
    if (html[i] === '/') {
      i++
      continue
    }
    let j = i
    while (j < n && !/[\s=>]/.test(html[j]) && !html.startsWith('/>', j)) j++
    const attrName = html.slice(i, j).toLowerCase()
    i = j
    while (i < n && /\s/.test(html[i])) i++
    let value = ''
    if (html[i] === '=') {
      i++
      while (i < n && /\s/.test(html[i])) i++
      const q = html[i]
      if (q === '"' || q === "'") {
        const close = html.indexOf(q, i + 1)
        value = html.slice(i + 1, close < 0 ? n : close)
        i = close < 0 ? n : close + 1
      } else {
        let k = i
        while (k < n && !/[\s>]/.test(html[k])) k++
        value = html.slice(i, k)
        i = k
      }
    }
    if (attrName && !attrs.some(([a]) => a === attrName)) attrs.push([attrName, decodeEntities(value)])
  }
}

/** Gives every document an html element with head and body, as browsers and Go's parser do. */
function skeleton(doc: DomNode): void {
  let html = doc.children.find((c) => c.type === 1 && c.name === 'html')
  if (!html) {
    html = node(1, 'html', doc)
    const keep = doc.children.filter((c) => c.type === 10)
    const move = doc.children.filter((c) => c.type !== 10)
    doc.children = keep
    append(doc, html)
    for (const c of move) append(html, c)
  }
  let head = html.children.find((c) => c.type === 1 && c.name === 'head')
  let body = html.children.find((c) => c.type === 1 && c.name === 'body')
  if (head && body) return
  const rest = html.children.filter((c) => c !== head && c !== body)
  html.children = []
  if (!head) {
    head = node(1, 'head', html)
    // Head elements before any content belong to the head.
    while (rest.length && (rest[0].type !== 1 ? rest[0].type !== 3 || !rest[0].data.trim() : HEAD_ELEMENTS.has(rest[0].name))) {
      const c = rest.shift()!
      if (c.type === 1) append(head, c)
    }
  }
  append(html, head)
  if (!body) {
    body = node(1, 'body', html)
    for (const c of rest) append(body, c)
  }
  append(html, body)
}

// ---------------------------------------------------------------------------------------------
// Reading the tree

export function attr(el: DomNode, name: string): string | undefined {
  const lower = name.toLowerCase()
  for (const [k, v] of el.attrs) if (k === lower) return v
  return undefined
}

export function elementChildren(n: DomNode): DomNode[] {
  return n.children.filter((c) => c.type === 1)
}

export function textContent(n: DomNode): string {
  if (n.type === 3) return n.data
  if (n.type !== 1 && n.type !== 9) return ''
  let out = ''
  for (const c of n.children) out += c.type === 8 ? '' : textContent(c)
  return out
}

/** Every element under `n`, in document order. */
export function descendants(n: DomNode, out: DomNode[] = []): DomNode[] {
  for (const c of n.children) {
    if (c.type === 1) {
      out.push(c)
      descendants(c, out)
    }
  }
  return out
}

const escapeText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\u00a0/g, '&nbsp;')
const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/\u00a0/g, '&nbsp;')

export function outerHtml(n: DomNode): string {
  switch (n.type) {
    case 3:
      return n.parent && RAW_TEXT.has(n.parent.name) ? n.data : escapeText(n.data)
    case 8:
      return `<!--${n.data}-->`
    case 10:
      return `<!DOCTYPE ${n.data || 'html'}>`
    case 9:
      return innerHtml(n)
  }
  const attrs = n.attrs.map(([k, v]) => ` ${k}="${escapeAttr(v)}"`).join('')
  if (VOID.has(n.name)) return `<${n.name}${attrs}/>`
  return `<${n.name}${attrs}>${innerHtml(n)}</${n.name}>`
}

export function innerHtml(n: DomNode): string {
  return n.children.map(outerHtml).join('')
}
