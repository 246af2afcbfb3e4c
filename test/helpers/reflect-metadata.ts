// The three Reflect metadata functions tsyringe (a dependency of @peculiar/x509) needs, so the
// test PKI works without adding a polyfill package. Import before @peculiar/x509.
type Store = Map<unknown, unknown>
const stores = new WeakMap<object, Map<PropertyKey | undefined, Store>>()

function store(target: object, key: PropertyKey | undefined, create: boolean): Store | undefined {
  let byKey = stores.get(target)
  if (!byKey && create) stores.set(target, (byKey = new Map()))
  let s = byKey?.get(key)
  if (!s && create && byKey) byKey.set(key, (s = new Map()))
  return s
}

const polyfill = {
  defineMetadata(metaKey: unknown, value: unknown, target: object, key?: PropertyKey): void {
    store(target, key, true)!.set(metaKey, value)
  },
  getOwnMetadata(metaKey: unknown, target: object, key?: PropertyKey): unknown {
    return store(target, key, false)?.get(metaKey)
  },
  getMetadata(metaKey: unknown, target: object, key?: PropertyKey): unknown {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      const s = store(t, key, false)
      if (s?.has(metaKey)) return s.get(metaKey)
    }
    return undefined
  },
}

const R = Reflect as unknown as Record<string, unknown>
for (const [name, fn] of Object.entries(polyfill)) R[name] ??= fn
