// The part of GJSON path syntax (k6's Response.json(selector)) journeys use: dotted keys,
// array indexes, `#` for a length and `#.key` to collect a key from every element,
// `\.` to escape a dot. A path that leads nowhere gives null, as in k6.

export function gjson(value: unknown, path: string): unknown {
  const found = walk(value, split(path))
  return found === undefined ? null : found
}

function split(path: string): string[] {
  const parts: string[] = []
  let cur = ''
  for (let i = 0; i < path.length; i++) {
    const c = path[i]
    if (c === '\\' && i + 1 < path.length) cur += path[++i]
    else if (c === '.') {
      parts.push(cur)
      cur = ''
    } else cur += c
  }
  parts.push(cur)
  return parts
}

function walk(value: unknown, parts: string[]): unknown {
  if (parts.length === 0) return value
  const [head, ...rest] = parts
  if (Array.isArray(value)) {
    if (head === '#') {
      if (rest.length === 0) return value.length
      return value.map((v) => walk(v, rest)).filter((v) => v !== undefined)
    }
    if (/^\d+$/.test(head)) return walk(value[Number(head)], rest)
    return undefined
  }
  if (value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, head)) {
    return walk((value as Record<string, unknown>)[head], rest)
  }
  return undefined
}
