// k6/html: parseHTML and the jQuery-like Selection (goquery's API as k6 exposes it), plus the
// Element wrapper handed to each(). Form serialisation is shared with Response.submitForm.
import { attr, descendants, elementChildren, innerHtml, outerHtml, parseDocument, textContent, type DomNode } from './dom.ts'
import { compileSelector, matches, selectAll } from './selector.ts'

type Tester = (index: number, element: Selection) => boolean
type SelectorArg = string | Tester | Selection

const nodesOf = new WeakMap<Selection, DomNode[]>()

export function parseHTML(html: string): Selection {
  return new Selection([parseDocument(String(html ?? ''))])
}

/** The nodes behind a Selection (for Response.submitForm / clickLink). */
export function selectionNodes(s: Selection): DomNode[] {
  return nodesOf.get(s) ?? []
}

function unique(nodes: DomNode[]): DomNode[] {
  return [...new Set(nodes)]
}

export class Selection {
  constructor(nodes: DomNode[]) {
    nodesOf.set(this, nodes)
  }

  private get nodes(): DomNode[] {
    return nodesOf.get(this)!
  }

  private first_(): DomNode | undefined {
    return this.nodes.find((n) => n.type === 1) ?? this.nodes[0]
  }

  private test(sel: SelectorArg): (n: DomNode, i: number) => boolean {
    if (typeof sel === 'string') {
      const list = compileSelector(sel)
      return (n) => matches(n, list)
    }
    if (typeof sel === 'function') return (n, i) => !!sel(i, new Selection([n]))
    const set = new Set(selectionNodes(sel))
    return (n) => set.has(n)
  }

  private walk(step: (n: DomNode) => DomNode | null, selector?: string, until?: string, all = true): Selection {
    const filter = selector ? compileSelector(selector) : null
    const stop = until ? compileSelector(until) : null
    const out: DomNode[] = []
    for (const start of this.nodes) {
      for (let n = step(start); n; n = all ? step(n) : null) {
        if (stop && matches(n, stop)) break
        if (!filter || matches(n, filter)) out.push(n)
      }
    }
    return new Selection(unique(out))
  }

  find(selector: string): Selection {
    return new Selection(selectAll(this.nodes, compileSelector(selector)))
  }

  attr(name: string): string | undefined {
    const n = this.first_()
    return n && n.type === 1 ? attr(n, name) : undefined
  }

  children(selector?: string): Selection {
    const list = selector ? compileSelector(selector) : null
    return new Selection(this.nodes.flatMap((n) => elementChildren(n).filter((c) => !list || matches(c, list))))
  }

  closest(selector: string): Selection {
    const list = compileSelector(selector)
    const out: DomNode[] = []
    for (const n of this.nodes) {
      for (let p: DomNode | null = n; p && p.type === 1; p = p.parent) {
        if (matches(p, list)) {
          out.push(p)
          break
        }
      }
    }
    return new Selection(unique(out))
  }

  contents(): Selection {
    return new Selection(this.nodes.flatMap((n) => n.children))
  }

  data(key?: string): unknown {
    const n = this.first_()
    if (!n || n.type !== 1) return undefined
    const all: Record<string, string> = {}
    for (const [k, v] of n.attrs) if (k.startsWith('data-')) all[k.slice(5).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = v
    return key === undefined ? all : all[key]
  }

  each(handler: (index: number, element: Element) => void): void {
    this.nodes.forEach((n, i) => handler(i, new Element(n)))
  }

  eq(index: number): Selection {
    const i = index < 0 ? this.nodes.length + index : index
    return new Selection(this.nodes[i] ? [this.nodes[i]] : [])
  }

  filter(selector: SelectorArg): Selection {
    const t = this.test(selector)
    return new Selection(this.nodes.filter(t))
  }

  first(): Selection {
    return this.eq(0)
  }

  get(index: number): Element | undefined {
    const n = this.nodes[index < 0 ? this.nodes.length + index : index]
    return n ? new Element(n) : undefined
  }

  has(selector: string): Selection {
    const list = compileSelector(selector)
    return new Selection(this.nodes.filter((n) => selectAll([n], list).length > 0))
  }

  html(): string | undefined {
    const n = this.first_()
    return n ? innerHtml(n) : undefined
  }

  is(selector: SelectorArg): boolean {
    const t = this.test(selector)
    return this.nodes.some(t)
  }

  last(): Selection {
    return this.eq(-1)
  }

  map(mapper: (index: number, selection: Selection) => unknown): unknown[] {
    return this.nodes.map((n, i) => mapper(i, new Selection([n])))
  }

  next(selector?: string): Selection {
    return this.walk(nextElement, selector, undefined, false)
  }

  nextAll(selector?: string): Selection {
    return this.walk(nextElement, selector)
  }

  nextUntil(selector?: string): Selection {
    return this.walk(nextElement, undefined, selector)
  }

  not(selector: SelectorArg): Selection {
    const t = this.test(selector)
    return new Selection(this.nodes.filter((n, i) => !t(n, i)))
  }

  parent(selector?: string): Selection {
    return this.walk(parentElement, selector, undefined, false)
  }

  parents(selector?: string): Selection {
    return this.walk(parentElement, selector)
  }

  parentsUntil(selector?: string): Selection {
    return this.walk(parentElement, undefined, selector)
  }

  prev(selector?: string): Selection {
    return this.walk(prevElement, selector, undefined, false)
  }

  prevAll(selector?: string): Selection {
    return this.walk(prevElement, selector)
  }

  prevUntil(selector?: string): Selection {
    return this.walk(prevElement, undefined, selector)
  }

  serialize(): string {
    return formEncode(this.serializeArray())
  }

  serializeArray(): { name: string; value: string }[] {
    return formFields(this.nodes)
  }

  serializeObject(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const { name, value } of this.serializeArray()) out[name] = value
    return out
  }

  size(): number {
    return this.nodes.length
  }

  slice(start: number, end?: number): Selection {
    return new Selection(this.nodes.slice(start, end))
  }

  text(): string {
    return this.nodes.map(textContent).join('')
  }

  toArray(): Selection[] {
    return this.nodes.map((n) => new Selection([n]))
  }

  val(): string | undefined {
    const n = this.first_()
    return n && n.type === 1 ? fieldValue(n) : undefined
  }
}

/** One node, as each() and get() hand it out (k6's Element: methods, not properties). */
export class Element {
  readonly #n: DomNode
  constructor(n: DomNode) {
    this.#n = n
  }

  private wrap(n: DomNode | null | undefined): Element | undefined {
    return n ? new Element(n) : undefined
  }

  attributes(): Record<string, { name: string; value: string }> {
    const out: Record<string, { name: string; value: string }> = {}
    for (const [name, value] of this.#n.attrs) out[name] = { name, value }
    return out
  }
  childElementCount(): number {
    return elementChildren(this.#n).length
  }
  childNodes(): Element[] {
    return this.#n.children.map((c) => new Element(c))
  }
  children(): Element[] {
    return elementChildren(this.#n).map((c) => new Element(c))
  }
  classList(): string[] {
    return (attr(this.#n, 'class') ?? '').split(/\s+/).filter(Boolean)
  }
  className(): string | undefined {
    return attr(this.#n, 'class')
  }
  firstChild(): Element | undefined {
    return this.wrap(this.#n.children[0])
  }
  lastChild(): Element | undefined {
    return this.wrap(this.#n.children[this.#n.children.length - 1])
  }
  firstElementChild(): Element | undefined {
    return this.wrap(elementChildren(this.#n)[0])
  }
  lastElementChild(): Element | undefined {
    const c = elementChildren(this.#n)
    return this.wrap(c[c.length - 1])
  }
  getAttribute(name: string): string | undefined {
    return attr(this.#n, name)
  }
  hasAttribute(name: string): boolean {
    return attr(this.#n, name) !== undefined
  }
  hasAttributes(): boolean {
    return this.#n.attrs.length > 0
  }
  hasChildNodes(): boolean {
    return this.#n.children.length > 0
  }
  id(): string {
    return attr(this.#n, 'id') ?? ''
  }
  innerHTML(): string | undefined {
    return innerHtml(this.#n)
  }
  matches(selector: string): boolean {
    return matches(this.#n, compileSelector(selector))
  }
  nodeName(): string {
    return this.#n.type === 1 ? this.#n.name.toUpperCase() : this.#n.name
  }
  nodeType(): number {
    return this.#n.type
  }
  nodeValue(): string | undefined {
    return this.#n.type === 3 || this.#n.type === 8 ? this.#n.data : undefined
  }
  parentElement(): Element | undefined {
    return this.wrap(parentElement(this.#n))
  }
  parentNode(): Element | undefined {
    return this.wrap(this.#n.parent)
  }
  nextElementSibling(): Element | undefined {
    return this.wrap(nextElement(this.#n))
  }
  previousElementSibling(): Element | undefined {
    return this.wrap(prevElement(this.#n))
  }
  nextSibling(): Element | undefined {
    const s = this.#n.parent?.children ?? []
    return this.wrap(s[s.indexOf(this.#n) + 1])
  }
  previousSibling(): Element | undefined {
    const s = this.#n.parent?.children ?? []
    return this.wrap(s[s.indexOf(this.#n) - 1])
  }
  querySelector(selector: string): Element | undefined {
    return this.wrap(selectAll([this.#n], compileSelector(selector))[0])
  }
  querySelectorAll(selector: string): Element[] {
    return selectAll([this.#n], compileSelector(selector)).map((n) => new Element(n))
  }
  getElementsByTagName(name: string): Element[] {
    return descendants(this.#n).filter((n) => n.name === name.toLowerCase()).map((n) => new Element(n))
  }
  getElementsByClassName(name: string): Element[] {
    return descendants(this.#n).filter((n) => (attr(n, 'class') ?? '').split(/\s+/).includes(name)).map((n) => new Element(n))
  }
  textContent(): string {
    return textContent(this.#n)
  }
  /** Form fields (input, select, textarea, button, option): the value a form would send. */
  value(): string | undefined {
    return fieldValue(this.#n)
  }
  toString(): string {
    return outerHtml(this.#n)
  }
}

function parentElement(n: DomNode): DomNode | null {
  return n.parent && n.parent.type === 1 ? n.parent : null
}

function nextElement(n: DomNode): DomNode | null {
  const s = n.parent?.children ?? []
  for (let i = s.indexOf(n) + 1; i < s.length; i++) if (s[i].type === 1) return s[i]
  return null
}

function prevElement(n: DomNode): DomNode | null {
  const s = n.parent?.children ?? []
  for (let i = s.indexOf(n) - 1; i >= 0; i--) if (s[i].type === 1) return s[i]
  return null
}

/** What a form field holds, as a browser (and goquery's Val) reads it. */
function fieldValue(n: DomNode): string | undefined {
  switch (n.name) {
    case 'input': {
      const type = (attr(n, 'type') ?? 'text').toLowerCase()
      return attr(n, 'value') ?? (type === 'checkbox' || type === 'radio' ? 'on' : '')
    }
    case 'textarea':
      return textContent(n)
    case 'option':
      return attr(n, 'value') ?? textContent(n).trim()
    case 'select': {
      const options = descendants(n).filter((o) => o.name === 'option')
      const chosen = options.find((o) => attr(o, 'selected') !== undefined) ?? options[0]
      return chosen ? fieldValue(chosen) : ''
    }
    case 'button':
      return attr(n, 'value') ?? ''
  }
  return attr(n, 'value')
}

const SKIP_INPUT_TYPES = new Set(['submit', 'button', 'image', 'reset', 'file'])

/**
 * The successful controls of the given forms (or the fields themselves), in document order:
 * named, not disabled, checkboxes and radios only when checked, no buttons (a form submitter is
 * added by the caller).
 */
export function formFields(nodes: DomNode[]): { name: string; value: string }[] {
  const fields: DomNode[] = []
  for (const n of nodes) {
    if (n.name === 'form') fields.push(...descendants(n).filter((d) => ['input', 'select', 'textarea'].includes(d.name)))
    else if (['input', 'select', 'textarea'].includes(n.name)) fields.push(n)
  }
  const out: { name: string; value: string }[] = []
  for (const f of fields) {
    const name = attr(f, 'name')
    if (!name || attr(f, 'disabled') !== undefined) continue
    if (f.name === 'input') {
      const type = (attr(f, 'type') ?? 'text').toLowerCase()
      if (SKIP_INPUT_TYPES.has(type)) continue
      if ((type === 'checkbox' || type === 'radio') && attr(f, 'checked') === undefined) continue
    }
    if (f.name === 'select' && attr(f, 'multiple') !== undefined) {
      for (const o of descendants(f).filter((o) => o.name === 'option' && attr(o, 'selected') !== undefined)) out.push({ name, value: fieldValue(o) ?? '' })
      continue
    }
    out.push({ name, value: fieldValue(f) ?? '' })
  }
  return out
}

/** application/x-www-form-urlencoded, as Go's url.QueryEscape writes it (space as "+"). */
export function formEncode(pairs: { name: string; value: string }[]): string {
  return pairs.map(({ name, value }) => `${queryEscape(name)}=${queryEscape(value)}`).join('&')
}

export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}
