// The reflective decoder proto/codec.ts had before it was specialized (a copy, kept as the
// oracle of the differential tests in codec.test.ts): a Map per message, protobufjs' Reader,
// Long for 64-bit fields, paths built for every field. Same results, same errors: the
// specialized decoder must agree with it on any bytes.
import protobuf from 'protobufjs/light.js'
import type { ResultBatch } from '../../proto/batch.ts'
import { CodecError, PROTO_PACKAGE, root } from '../../proto/codec.ts'
import { CHECK_TYPES, type ProbeResult } from '../../proto/result.ts'

type Json = Record<string, unknown>

type Wrapper = 'nullable' | 'list' | 'map'

interface FieldPlan {
  name: string
  id: number
  /** Basic type name ("string", "uint64", …) or undefined for a message. */
  scalar?: string
  message?: MessagePlan
  repeated: boolean
  map: boolean
  /** Absent from JSON is allowed (proto3 `optional`, or any message field). */
  optional: boolean
}

interface MessagePlan {
  name: string
  fields: FieldPlan[]
  byId: Map<number, FieldPlan>
  /** Wrapper messages stand for a JSON null/array/object, not for an object of their own. */
  wrapper?: Wrapper
}

const plans = new Map<protobuf.Type, MessagePlan>()

function planOf(type: protobuf.Type): MessagePlan {
  let plan = plans.get(type)
  if (plan) return plan
  plan = { name: type.name, fields: [], byId: new Map(), wrapper: wrapperKind(type) }
  plans.set(type, plan) // before the fields, so a recursive type finds itself
  for (const field of type.fieldsArray) {
    const resolved = field.resolvedType
    if (resolved && !(resolved instanceof protobuf.Type)) {
      throw new Error(`${type.name}.${field.name}: enums are not supported by the codec; use a string`)
    }
    if (field.map && (field as unknown as protobuf.MapField).keyType !== 'string') {
      throw new Error(`${type.name}.${field.name}: only string map keys are supported`)
    }
    const f: FieldPlan = {
      name: field.name,
      id: field.id,
      scalar: resolved ? undefined : field.type,
      message: resolved ? planOf(resolved) : undefined,
      repeated: field.repeated,
      map: field.map,
      optional: resolved !== null || field.hasPresence,
    }
    plan.fields.push(f)
    plan.byId.set(f.id, f)
  }
  return plan
}

function wrapperKind(type: protobuf.Type): Wrapper | undefined {
  const only = type.fieldsArray.length === 1 ? type.fieldsArray[0] : undefined
  const expect = (kind: Wrapper, ok: boolean): Wrapper => {
    if (!ok) throw new Error(`vantage.proto: wrapper ${type.name} does not have the one field its name promises (see the top of vantage.proto)`)
    return kind
  }
  // `value` needs presence (proto3 `optional`, or a message), or "" and 0 would read back as null.
  if (type.name.startsWith('Nullable')) return expect('nullable', only?.name === 'value' && (only.resolvedType !== null || only.hasPresence))
  if (type.name.endsWith('List')) return expect('list', only?.name === 'items' && only.repeated && !only.map)
  if (type.name.endsWith('Map')) return expect('map', only?.name === 'entries' && only.map)
  return undefined
}

function messagePlan(name: string): MessagePlan {
  return planOf(root.lookupType(`${PROTO_PACKAGE}.${name}`))
}

const LONG = protobuf.types.long as Record<string, number>
const WIRE = protobuf.types.basic as Record<string, number>
const PACKABLE = protobuf.types.packed as Record<string, number>
const LENGTH_DELIMITED = 2

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'object') return 'an object'
  return String(value)
}

// ---- decoding ----

type ScalarReader = (this: protobuf.Reader) => unknown

function readScalar(r: protobuf.Reader, type: string, path: string): unknown {
  const value = (r[type as keyof protobuf.Reader] as ScalarReader).call(r)
  return LONG[type] !== undefined ? toSafeNumber(value, path) : value
}

/** 64-bit integers arrive as Long (or number without long.js); JSON wants a safe number. */
function toSafeNumber(value: unknown, path: string): number {
  const n = typeof value === 'number' ? value : (value as { toNumber(): number }).toNumber()
  if (!Number.isSafeInteger(n)) throw new CodecError(`${path}: ${String(value)} is outside JavaScript's safe integer range`)
  return n
}

function defaultOf(type: string): unknown {
  if (type === 'string') return ''
  if (type === 'bool') return false
  if (type === 'bytes') return new Uint8Array(0)
  return 0
}

/** Reads a length prefix and returns where the nested bytes end. */
function nestedEnd(r: protobuf.Reader, path: string): number {
  const length = r.uint32()
  const end = r.pos + length
  if (end > r.len) throw new CodecError(`${path}: length ${length} runs past the end of the data`)
  return end
}

function decodeMessage(r: protobuf.Reader, plan: MessagePlan, end: number, path: string): Json {
  const seen = new Map<FieldPlan, unknown>()
  while (r.pos < end) {
    const t = r.uint32()
    const id = t >>> 3
    const wireType = t & 7
    if (id === 0) throw new CodecError(`${path}: invalid field number 0 at offset ${r.pos}`)
    const f = plan.byId.get(id)
    if (!f) {
      r.skipType(wireType) // a field from a newer contract: ignore it
      continue
    }
    const at = `${path}.${f.name}`
    if (f.map) {
      expectWire(wireType, LENGTH_DELIMITED, at)
      const entries = (seen.get(f) as Json | undefined) ?? {}
      decodeMapEntry(r, f, entries, at)
      seen.set(f, entries)
    } else if (f.repeated) {
      const items = (seen.get(f) as unknown[] | undefined) ?? []
      decodeRepeated(r, f, wireType, items, at)
      seen.set(f, items)
    } else if (f.message) {
      expectWire(wireType, LENGTH_DELIMITED, at)
      seen.set(f, decodeNested(r, f.message, at))
    } else {
      expectWire(wireType, WIRE[f.scalar!], at)
      seen.set(f, readScalar(r, f.scalar!, at))
    }
  }
  if (r.pos !== end) throw new CodecError(`${path}: a field runs past the end of its message`)
  return assemble(plan, seen)
}

/** The decoded object in .proto order (a stable JSON key order), defaults for unsent fields. */
function assemble(plan: MessagePlan, seen: Map<FieldPlan, unknown>): Json {
  const out: Json = {}
  for (const f of plan.fields) {
    if (seen.has(f)) out[f.name] = seen.get(f)
    else if (f.map) out[f.name] = {}
    else if (f.repeated) out[f.name] = []
    else if (!f.optional) out[f.name] = defaultOf(f.scalar!)
  }
  return out
}

/** A wrapper message → the JSON null/array/object it carries. */
function unwrap(plan: MessagePlan, obj: Json): unknown {
  switch (plan.wrapper) {
    case 'nullable':
      return 'value' in obj ? obj.value : null
    case 'list':
      return obj.items
    case 'map':
      return obj.entries
    default:
      return obj
  }
}

function decodeNested(r: protobuf.Reader, plan: MessagePlan, path: string): unknown {
  return unwrap(plan, decodeMessage(r, plan, nestedEnd(r, path), path))
}

function expectWire(got: number, want: number, path: string): void {
  if (got !== want) throw new CodecError(`${path}: wire type ${got}, expected ${want}`)
}

function decodeRepeated(r: protobuf.Reader, f: FieldPlan, wireType: number, items: unknown[], path: string): void {
  const at = `${path}[${items.length}]`
  if (f.message) {
    expectWire(wireType, LENGTH_DELIMITED, at)
    items.push(decodeNested(r, f.message, at))
  } else if (PACKABLE[f.scalar!] !== undefined && wireType === LENGTH_DELIMITED) {
    const end = nestedEnd(r, path)
    while (r.pos < end) items.push(readScalar(r, f.scalar!, `${path}[${items.length}]`))
    if (r.pos !== end) throw new CodecError(`${path}: packed values run past their length`)
  } else {
    expectWire(wireType, WIRE[f.scalar!], at)
    items.push(readScalar(r, f.scalar!, at))
  }
}

function decodeMapEntry(r: protobuf.Reader, f: FieldPlan, entries: Json, path: string): void {
  const end = nestedEnd(r, path)
  let key = ''
  let value: unknown
  while (r.pos < end) {
    const t = r.uint32()
    const id = t >>> 3
    if (id === 1) {
      expectWire(t & 7, LENGTH_DELIMITED, `${path} key`)
      key = r.string()
    } else if (id === 2) {
      const at = `${path}[${JSON.stringify(key)}]`
      if (f.message) {
        expectWire(t & 7, LENGTH_DELIMITED, at)
        value = decodeNested(r, f.message, at)
      } else {
        expectWire(t & 7, WIRE[f.scalar!], at)
        value = readScalar(r, f.scalar!, at)
      }
    } else if (id === 0) throw new CodecError(`${path}: invalid field number 0`)
    else r.skipType(t & 7)
  }
  if (r.pos !== end) throw new CodecError(`${path}: a map entry runs past its length`)
  // A value left out is the type's default, as in every protobuf implementation.
  if (value === undefined) value = f.message ? unwrap(f.message, assemble(f.message, new Map())) : defaultOf(f.scalar!)
  // Own property even for "__proto__", so a hostile key cannot reach the prototype.
  Object.defineProperty(entries, key, { value, enumerable: true, writable: true, configurable: true })
}

function decodeTop(plan: MessagePlan, bytes: Uint8Array): Json {
  if (!(bytes instanceof Uint8Array)) {
    throw new CodecError(`${PROTO_PACKAGE}.${plan.name}: expected bytes (Uint8Array), got ${describe(bytes)}`)
  }
  const r = protobuf.Reader.create(bytes)
  try {
    return decodeMessage(r, plan, r.len, plan.name)
  } catch (err) {
    if (err instanceof CodecError) {
      throw new CodecError(`malformed protobuf: ${err.message}`, { cause: err })
    }
    // protobufjs' Reader throws RangeError/Error on truncated data or an invalid wire type.
    const reason = err instanceof Error ? err.message : String(err)
    throw new CodecError(`malformed protobuf: ${plan.name}: ${reason}`, { cause: err })
  }
}

// ---- checks that turn "parses as protobuf" into "is a batch" ----

function nonEmpty(obj: Json, key: string, path: string): void {
  if (typeof obj[key] !== 'string' || obj[key] === '') throw new CodecError(`${path}.${key}: must be a non-empty string`)
}

/** The identity the hub dedupes and attributes by; everything else is the probe's business. */
function checkResultIdentity(result: ProbeResult, path: string): void {
  for (const key of ['check', 'vantage', 'agent_id', 'result_id', 'started_at'] as const) {
    nonEmpty(result as unknown as Json, key, path)
  }
  if (!CHECK_TYPES.includes(result.type)) {
    throw new CodecError(`${path}.type: ${describe(result.type)} is not one of ${CHECK_TYPES.join(', ')}`)
  }
  if (Number.isNaN(Date.parse(result.started_at))) {
    throw new CodecError(`${path}.started_at: ${describe(result.started_at)} is not an ISO 8601 time`)
  }
}

function checkBatch(batch: ResultBatch, prefix: string): void {
  nonEmpty(batch as unknown as Json, 'agent_id', prefix)
  nonEmpty(batch as unknown as Json, 'vantage', prefix)
  batch.results.forEach((r, i) => checkResultIdentity(r, `${prefix}.results[${i}]`))
}

// ---- the API, as proto/codec.ts had it ----

export function oracleDecodeBatch(bytes: Uint8Array): ResultBatch {
  const batch = decodeTop(messagePlan('ResultBatch'), bytes) as unknown as ResultBatch
  try {
    checkBatch(batch, 'ResultBatch')
  } catch (err) {
    throw new CodecError(`malformed batch: ${(err as Error).message}`, { cause: err })
  }
  return batch
}

export function oracleDecodeResult(bytes: Uint8Array): ProbeResult {
  const result = decodeTop(messagePlan('ProbeResult'), bytes) as unknown as ProbeResult
  try {
    checkResultIdentity(result, 'ProbeResult')
  } catch (err) {
    throw new CodecError(`malformed result: ${(err as Error).message}`, { cause: err })
  }
  return result
}

export function oracleDecode(name: string, bytes: Uint8Array): unknown {
  return decodeTop(messagePlan(name), bytes)
}
