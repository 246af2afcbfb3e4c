// CSS selectors for k6/html (what goquery/cascadia accept and journeys use): type, #id, .class,
// [attr], [attr=v] (~= |= ^= $= *= !=, i flag), the descendant/child/sibling combinators,
// :first-child and friends, :nth-child(an+b), :not(), :has(), :is(), :contains(), :empty,
// :checked, :selected, :disabled, :enabled, :root. An invalid selector throws with the reason.
import { attr, descendants, elementChildren, textContent, type DomNode } from './dom.ts'

type Simple =
  | { k: 'tag'; name: string }
  | { k: 'id'; value: string }
  | { k: 'class'; value: string }
  | { k: 'attr'; name: string; op: string; value: string; ci: boolean }
  | { k: 'pseudo'; name: string; nth?: [number, number]; list?: SelectorList; text?: string }

interface Complex {
  /** Compounds left to right; combinators[i] joins parts[i] and parts[i + 1]. */
  parts: Simple[][]
  combinators: string[]
}

export type SelectorList = Complex[]

const cache = new Map<string, SelectorList>()

export function compileSelector(source: string): SelectorList {
  let list = cache.get(source)
  if (!list) {
    const p = new Parser(String(source))
    list = p.list()
    p.ws()
    if (!p.done()) p.fail('unexpected character')
    if (cache.size > 500) cache.clear()
    cache.set(source, list)
  }
  return list
}

export function matches(el: DomNode, list: SelectorList): boolean {
  return el.type === 1 && list.some((c) => matchComplex(el, c, c.parts.length - 1))
}

/** Elements under each of `roots` matching `list`, in document order, without duplicates. */
export function selectAll(roots: DomNode[], list: SelectorList): DomNode[] {
  const seen = new Set<DomNode>()
  const out: DomNode[] = []
  for (const root of roots) {
    for (const el of descendants(root)) {
      if (!seen.has(el) && matches(el, list)) {
        seen.add(el)
        out.push(el)
      }
    }
  }
  return out
}

class Parser {
  private i = 0
  constructor(private readonly s: string) {}

  done(): boolean {
    return this.i >= this.s.length
  }

  fail(why: string): never {
    throw new Error(`invalid selector "${this.s}": ${why} at position ${this.i}`)
  }

  ws(): boolean {
    const start = this.i
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++
    return this.i > start
  }

  list(): SelectorList {
    const out: SelectorList = [this.complex()]
    for (;;) {
      this.ws()
      if (this.s[this.i] !== ',') return out
      this.i++
      out.push(this.complex())
    }
  }

  private complex(): Complex {
    this.ws()
    const c: Complex = { parts: [this.compound()], combinators: [] }
    for (;;) {
      const hadWs = this.ws()
      const ch = this.s[this.i]
      if (ch === '>' || ch === '+' || ch === '~') {
        this.i++
        this.ws()
        c.combinators.push(ch)
      } else if (hadWs && ch !== undefined && ch !== ',' && ch !== ')') {
        c.combinators.push(' ')
      } else {
        return c
      }
      c.parts.push(this.compound())
    }
  }

  private compound(): Simple[] {
    const out: Simple[] = []
    const ch = this.s[this.i]
    if (ch === '*') this.i++
    else if (ch !== undefined && /[-\w\\\u00a0-\uffff]/.test(ch)) out.push({ k: 'tag', name: this.ident().toLowerCase() })
    for (;;) {
      const c = this.s[this.i]
      if (c === '#') {
        this.i++
        out.push({ k: 'id', value: this.ident() })
      } else if (c === '.') {
        this.i++
        out.push({ k: 'class', value: this.ident() })
      } else if (c === '[') {
        out.push(this.attribute())
      } else if (c === ':') {
        out.push(this.pseudo())
      } else {
        break
      }
    }
    if (out.length === 0 && ch !== '*') this.fail('expected a selector')
    return out
  }

  private ident(): string {
    let out = ''
    while (this.i < this.s.length) {
      const c = this.s[this.i]
      if (c === '\\' && this.i + 1 < this.s.length) {
        out += this.s[this.i + 1]
        this.i += 2
      } else if (/[-\w\u00a0-\uffff]/.test(c)) {
        out += c
        this.i++
      } else {
        break
      }
    }
    if (!out) this.fail('expected a name')
    return out
  }

  private value(): string {
    const q = this.s[this.i]
    if (q === '"' || q === "'") {
      let out = ''
      this.i++
      while (this.i < this.s.length && this.s[this.i] !== q) {
        if (this.s[this.i] === '\\') this.i++
        out += this.s[this.i++]
      }
      if (this.s[this.i] !== q) this.fail('unterminated string')
      this.i++
      return out
    }
    return this.ident()
  }

  private attribute(): Simple {
    this.i++ // [
    this.ws()
    const name = this.ident().toLowerCase()
    this.ws()
    const m = /^([~|^$*!]?=)/.exec(this.s.slice(this.i))
    if (!m) {
      if (this.s[this.i] !== ']') this.fail('expected ] or an operator')
      this.i++
      return { k: 'attr', name, op: '', value: '', ci: false }
    }
    this.i += m[1].length
    this.ws()
    const value = this.value()
    this.ws()
    let ci = false
    if (/[iI]/.test(this.s[this.i] ?? '')) {
      ci = true
      this.i++
      this.ws()
    }
    if (this.s[this.i] !== ']') this.fail('expected ]')
    this.i++
    return { k: 'attr', name, op: m[1], value, ci }
  }

  private pseudo(): Simple {
    this.i++ // :
    if (this.s[this.i] === ':') this.fail('pseudo-elements are not supported')
    const name = this.ident().toLowerCase()
    const withArg = ['nth-child', 'nth-last-child', 'nth-of-type', 'nth-last-of-type', 'not', 'has', 'is', 'matches', 'where', 'contains', 'containsown']
    const plain = ['first-child', 'last-child', 'only-child', 'first-of-type', 'last-of-type', 'only-of-type', 'empty', 'root', 'checked', 'selected', 'disabled', 'enabled']
    if (plain.includes(name)) return { k: 'pseudo', name }
    if (!withArg.includes(name)) this.fail(`unsupported pseudo-class ":${name}"`)
    if (this.s[this.i] !== '(') this.fail(`:${name} needs an argument`)
    this.i++
    this.ws()
    let out: Simple
    if (name.startsWith('nth-')) {
      const close = this.s.indexOf(')', this.i)
      if (close < 0) this.fail('expected )')
      out = { k: 'pseudo', name, nth: this.nth(this.s.slice(this.i, close).trim()) }
      this.i = close
    } else if (name === 'contains' || name === 'containsown') {
      out = { k: 'pseudo', name, text: this.value() }
    } else {
      out = { k: 'pseudo', name: name === 'matches' || name === 'where' ? 'is' : name, list: this.list() }
    }
    this.ws()
    if (this.s[this.i] !== ')') this.fail('expected )')
    this.i++
    return out
  }

  private nth(arg: string): [number, number] {
    const a = arg.toLowerCase().replace(/\s+/g, '')
    if (a === 'odd') return [2, 1]
    if (a === 'even') return [2, 0]
    const m = /^([+-]?\d*)n([+-]\d+)?$/.exec(a)
    if (m) {
      const coef = m[1] === '' || m[1] === '+' ? 1 : m[1] === '-' ? -1 : Number(m[1])
      return [coef, m[2] ? Number(m[2]) : 0]
    }
    if (/^[+-]?\d+$/.test(a)) return [0, Number(a)]
    return this.fail(`invalid :nth argument "${arg}"`)
  }
}

function matchComplex(el: DomNode, c: Complex, at: number): boolean {
  if (!matchCompound(el, c.parts[at])) return false
  if (at === 0) return true
  switch (c.combinators[at - 1]) {
    case '>':
      return isElement(el.parent) && matchComplex(el.parent, c, at - 1)
    case '+': {
      const prev = previousElement(el)
      return prev !== null && matchComplex(prev, c, at - 1)
    }
    case '~':
      for (let p = previousElement(el); p; p = previousElement(p)) if (matchComplex(p, c, at - 1)) return true
      return false
    default:
      for (let p = el.parent; isElement(p); p = p.parent) if (matchComplex(p, c, at - 1)) return true
      return false
  }
}

function isElement(n: DomNode | null): n is DomNode {
  return n !== null && n.type === 1
}

function previousElement(el: DomNode): DomNode | null {
  const siblings = el.parent ? el.parent.children : []
  for (let i = siblings.indexOf(el) - 1; i >= 0; i--) if (siblings[i].type === 1) return siblings[i]
  return null
}

function matchCompound(el: DomNode, simples: Simple[]): boolean {
  return simples.every((s) => matchSimple(el, s))
}

function matchSimple(el: DomNode, s: Simple): boolean {
  switch (s.k) {
    case 'tag':
      return el.name === s.name
    case 'id':
      return attr(el, 'id') === s.value
    case 'class':
      return (attr(el, 'class') ?? '').split(/\s+/).includes(s.value)
    case 'attr':
      return matchAttr(attr(el, s.name), s.op, s.value, s.ci)
    case 'pseudo':
      return matchPseudo(el, s)
  }
}

function matchAttr(actual: string | undefined, op: string, wanted: string, ci: boolean): boolean {
  if (op === '!=') return actual === undefined || (ci ? actual.toLowerCase() !== wanted.toLowerCase() : actual !== wanted)
  if (actual === undefined) return false
  const v = ci ? actual.toLowerCase() : actual
  const w = ci ? wanted.toLowerCase() : wanted
  switch (op) {
    case '':
      return true
    case '=':
      return v === w
    case '~=':
      return w !== '' && v.split(/\s+/).includes(w)
    case '|=':
      return v === w || v.startsWith(`${w}-`)
    case '^=':
      return w !== '' && v.startsWith(w)
    case '$=':
      return w !== '' && v.endsWith(w)
    case '*=':
      return w !== '' && v.includes(w)
  }
  return false
}

function matchPseudo(el: DomNode, s: Extract<Simple, { k: 'pseudo' }>): boolean {
  const siblings = el.parent ? elementChildren(el.parent) : [el]
  const sameType = siblings.filter((x) => x.name === el.name)
  switch (s.name) {
    case 'first-child':
      return siblings[0] === el
    case 'last-child':
      return siblings[siblings.length - 1] === el
    case 'only-child':
      return siblings.length === 1
    case 'first-of-type':
      return sameType[0] === el
    case 'last-of-type':
      return sameType[sameType.length - 1] === el
    case 'only-of-type':
      return sameType.length === 1
    case 'nth-child':
      return nthMatch(siblings.indexOf(el) + 1, s.nth!)
    case 'nth-last-child':
      return nthMatch(siblings.length - siblings.indexOf(el), s.nth!)
    case 'nth-of-type':
      return nthMatch(sameType.indexOf(el) + 1, s.nth!)
    case 'nth-last-of-type':
      return nthMatch(sameType.length - sameType.indexOf(el), s.nth!)
    case 'not':
      return !matches(el, s.list!)
    case 'is':
      return matches(el, s.list!)
    case 'has':
      return selectAll([el], s.list!).length > 0
    case 'contains':
      return textContent(el).includes(s.text!)
    case 'containsown':
      return el.children.some((c) => c.type === 3 && c.data.includes(s.text!))
    case 'empty':
      return el.children.every((c) => c.type === 8)
    case 'root':
      return el.parent !== null && el.parent.type === 9
    case 'checked':
      return (['input'].includes(el.name) && attr(el, 'checked') !== undefined) || (el.name === 'option' && attr(el, 'selected') !== undefined)
    case 'selected':
      return el.name === 'option' && attr(el, 'selected') !== undefined
    case 'disabled':
      return attr(el, 'disabled') !== undefined
    case 'enabled':
      return ['input', 'button', 'select', 'textarea', 'option'].includes(el.name) && attr(el, 'disabled') === undefined
  }
  return false
}

function nthMatch(position: number, [a, b]: [number, number]): boolean {
  if (a === 0) return position === b
  const n = (position - b) / a
  return Number.isInteger(n) && n >= 0
}
