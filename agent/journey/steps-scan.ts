// The steps a journey declares: group() calls with a literal name, nested by where they sit in the
// code (and under setup/teardown). Used only to list the steps an iteration never reached when it
// was cut short (exception, fail(), time or memory limit); a dynamic name is simply not listed.
// Scans esbuild's output, so comments are gone and TypeScript is already JavaScript.

type Token = { t: 'id' | 'str' | 'punct'; v: string }

const REGEX_BEFORE_PUNCT = new Set(['(', ',', '=', ':', '[', '!', '&', '|', '?', '{', '}', ';', '+', '-', '*', '%', '<', '>', '~', '^', '=>'])
const REGEX_BEFORE_WORD = new Set(['return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'yield', 'await'])

function tokenize(src: string): Token[] {
  const out: Token[] = []
  // Open template literals: the brace depth at which each `${` started.
  const templates: number[] = []
  let braces = 0
  let i = 0
  const n = src.length
  const readTemplate = () => {
    // From inside a template literal to its end or the next `${`.
    while (i < n) {
      const c = src[i]
      if (c === '\\') i += 2
      else if (c === '`') {
        i++
        out.push({ t: 'str', v: '' }) // a template is never a literal step name
        return
      } else if (c === '$' && src[i + 1] === '{') {
        i += 2
        templates.push(braces)
        braces++
        out.push({ t: 'punct', v: '(' })
        return
      } else i++
    }
  }
  while (i < n) {
    const c = src[i]
    if (/\s/.test(c)) {
      i++
    } else if (c === '/' && src[i + 1] === '/') {
      while (i < n && src[i] !== '\n') i++
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2)
      i = end < 0 ? n : end + 2
    } else if (c === '"' || c === "'") {
      let v = ''
      i++
      while (i < n && src[i] !== c) {
        if (src[i] === '\\') {
          v += src[i + 1] ?? ''
          i += 2
        } else v += src[i++]
      }
      i++
      out.push({ t: 'str', v })
    } else if (c === '`') {
      i++
      readTemplate()
    } else if (c === '}' && templates.length && templates[templates.length - 1] === braces - 1) {
      templates.pop()
      braces--
      out.push({ t: 'punct', v: ')' })
      i++
      readTemplate()
    } else if (c === '/' && regexAllowed(out[out.length - 1])) {
      i++
      let inClass = false
      while (i < n && (inClass || src[i] !== '/')) {
        if (src[i] === '\\') i++
        else if (src[i] === '[') inClass = true
        else if (src[i] === ']') inClass = false
        i++
      }
      i++
      while (i < n && /\w/.test(src[i])) i++
      out.push({ t: 'str', v: '' })
    } else if (/[\w$]/.test(c)) {
      let j = i
      while (j < n && /[\w$]/.test(src[j])) j++
      out.push({ t: 'id', v: src.slice(i, j) })
      i = j
    } else {
      if (c === '{') braces++
      if (c === '}') braces--
      const arrow = c === '=' && src[i + 1] === '>'
      out.push({ t: 'punct', v: arrow ? '=>' : c })
      i += arrow ? 2 : 1
    }
  }
  return out
}

function regexAllowed(prev: Token | undefined): boolean {
  if (!prev) return true
  if (prev.t === 'punct') return REGEX_BEFORE_PUNCT.has(prev.v)
  return prev.t === 'id' && REGEX_BEFORE_WORD.has(prev.v)
}

export function scanStepNames(code: string): string[] {
  const tokens = tokenize(code)
  const names: string[] = []
  const scopes: { name: string; closeAt: number }[] = []
  let depth = 0
  let pendingFunction: { name: string; depth: number } | null = null
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k]
    if (tok.t === 'punct') {
      if (tok.v === '(' || tok.v === '[' || tok.v === '{') {
        if (tok.v === '{' && pendingFunction && pendingFunction.depth === depth) {
          scopes.push({ name: pendingFunction.name, closeAt: depth })
          pendingFunction = null
        }
        depth++
      } else if (tok.v === ')' || tok.v === ']' || tok.v === '}') {
        depth--
        while (scopes.length && scopes[scopes.length - 1].closeAt === depth) scopes.pop()
      }
      continue
    }
    if (tok.t !== 'id') continue
    if (tok.v === 'function' && tokens[k + 1]?.t === 'id' && (tokens[k + 1].v === 'setup' || tokens[k + 1].v === 'teardown')) {
      pendingFunction = { name: tokens[k + 1].v, depth }
      continue
    }
    const isGroup = /^group\d*$/.test(tok.v)
    if (isGroup && tokens[k + 1]?.v === '(' && tokens[k + 2]?.t === 'str' && tokens[k + 3]?.v === ',' && tokens[k + 2].v) {
      const path = [...scopes.map((s) => s.name), tokens[k + 2].v].join('::')
      if (!names.includes(path)) names.push(path)
      scopes.push({ name: tokens[k + 2].v, closeAt: depth })
    }
  }
  return names
}
