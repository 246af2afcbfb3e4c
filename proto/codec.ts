// Protobuf encoding of the wire contract (vantage.proto) to and from the JSON shapes of
// result.ts and batch.ts. Portable: no `node:` imports, and no code generated at run time
// (protobufjs' Type.encode/decode compile functions with `new Function`, which Cloudflare
// Workers forbid), so this module walks the embedded descriptor: protobufjs' Writer encodes, and
// decoders specialized once per message type (closures and tables, not code) decode.
//
// Presence follows the JSON exactly (see the top of vantage.proto): a plain scalar is a
// required key, `optional` an optional one, a message field is present when its key is, and
// the Nullable*/ *List / *Map wrappers keep `null`, `[]` and `{}` apart from an absent key.
// So decode(encode(x)) deep-equals x for every well-typed x, including false/0/"" values.
import protobuf from 'protobufjs/light.js'
import type { BatchOfHeads, PushAck, ResultBatch, SignedBatch } from './batch.ts'
import { CHECK_TYPES, RESULT_HEAD, type ProbeResult, type ResultHead } from './result.ts'
import { VANTAGE_DESCRIPTOR } from './vantage.descriptor.ts'

export const PROTO_PACKAGE = 'vantage.v1'

/** The reflected vantage.proto (for gRPC service definitions and tooling). */
export const root = protobuf.Root.fromJSON(VANTAGE_DESCRIPTOR) as protobuf.Root
root.resolveAll()

/** A value does not fit the contract (encode) or bytes are not a valid message (decode). */
export class CodecError extends Error {
  override readonly name = 'CodecError'
}

type Json = Record<string, unknown>

// ---- plans: what each field means in JSON, computed once per message type ----

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
  /** Wrapper messages stand for a JSON null/array/object, not for an object of their own. */
  wrapper?: Wrapper
}

const plans = new Map<protobuf.Type, MessagePlan>()

function planOf(type: protobuf.Type): MessagePlan {
  let plan = plans.get(type)
  if (plan) return plan
  plan = { name: type.name, fields: [], wrapper: wrapperKind(type) }
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

// ---- encoding ----

const WIRE = protobuf.types.basic as Record<string, number>
const PACKABLE = protobuf.types.packed as Record<string, number>
const LENGTH_DELIMITED = 2

type ScalarWriter = (this: protobuf.Writer, value: unknown) => protobuf.Writer

function tag(id: number, wireType: number): number {
  return ((id << 3) | wireType) >>> 0
}

function writeScalar(w: protobuf.Writer, type: string, value: unknown): void {
  ;(w[type as keyof protobuf.Writer] as ScalarWriter).call(w, value)
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sint64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sfixed64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  fixed64: [0, Number.MAX_SAFE_INTEGER],
}

/** protobufjs would silently truncate or coerce a wrong value: refuse it instead. */
function checkScalar(type: string, value: unknown, path: string): void {
  const range = INT_RANGES[type]
  let ok: boolean
  if (type === 'string') ok = typeof value === 'string'
  else if (type === 'bool') ok = typeof value === 'boolean'
  else if (type === 'bytes') ok = value instanceof Uint8Array
  else if (range) ok = Number.isInteger(value) && (value as number) >= range[0] && (value as number) <= range[1]
  else ok = typeof value === 'number' // double, float
  if (!ok) {
    const want = range ? `an integer in ${range[0]}..${range[1]}` : `a ${type === 'bool' ? 'boolean' : type}`
    throw new CodecError(`${path}: expected ${want}, got ${describe(value)}`)
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'object') return 'an object'
  return String(value)
}

function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}

/** JSON null/array/object → the wrapper message that carries it. */
function wrap(kind: Wrapper, value: unknown): Json {
  if (kind === 'nullable') return value === null ? {} : { value }
  return kind === 'list' ? { items: value } : { entries: value }
}

function encodeMessage(w: protobuf.Writer, plan: MessagePlan, obj: unknown, path: string): void {
  if (!isPlainObject(obj)) throw new CodecError(`${path}: expected an object, got ${describe(obj)}`)
  for (const f of plan.fields) {
    const value = obj[f.name]
    const at = `${path}.${f.name}`
    if (value === undefined) {
      if (!f.optional) throw new CodecError(`${at}: missing`)
      continue
    }
    if (f.map) encodeMap(w, f, value, at)
    else if (f.repeated) encodeRepeated(w, f, value, at)
    else if (f.message) encodeNested(w, f.id, f.message, value, at)
    else {
      checkScalar(f.scalar!, value, at)
      // Implicit presence: a default value is simply not sent (decoding restores it).
      if (!f.optional && isDefault(value)) continue
      writeScalar(w.uint32(tag(f.id, WIRE[f.scalar!])), f.scalar!, value)
    }
  }
}

function encodeNested(w: protobuf.Writer, id: number, plan: MessagePlan, value: unknown, path: string): void {
  const obj = plan.wrapper ? wrap(plan.wrapper, value) : value
  w.uint32(tag(id, LENGTH_DELIMITED)).fork()
  encodeMessage(w, plan, obj, path)
  w.ldelim()
}

function isDefault(value: unknown): boolean {
  return value === '' || value === false || Object.is(value, 0) || (value instanceof Uint8Array && value.length === 0)
}

function encodeRepeated(w: protobuf.Writer, f: FieldPlan, values: unknown, path: string): void {
  if (!Array.isArray(values)) throw new CodecError(`${path}: expected an array, got ${describe(values)}`)
  if (f.message) {
    values.forEach((v, i) => encodeNested(w, f.id, f.message!, v, `${path}[${i}]`))
  } else if (PACKABLE[f.scalar!] !== undefined) {
    if (values.length === 0) return
    values.forEach((v, i) => checkScalar(f.scalar!, v, `${path}[${i}]`))
    w.uint32(tag(f.id, LENGTH_DELIMITED)).fork()
    for (const v of values) writeScalar(w, f.scalar!, v)
    w.ldelim()
  } else {
    values.forEach((v, i) => {
      checkScalar(f.scalar!, v, `${path}[${i}]`)
      writeScalar(w.uint32(tag(f.id, LENGTH_DELIMITED)), f.scalar!, v)
    })
  }
}

function encodeMap(w: protobuf.Writer, f: FieldPlan, entries: unknown, path: string): void {
  if (!isPlainObject(entries)) throw new CodecError(`${path}: expected an object, got ${describe(entries)}`)
  for (const [key, value] of Object.entries(entries)) {
    const at = `${path}[${JSON.stringify(key)}]`
    w.uint32(tag(f.id, LENGTH_DELIMITED)).fork()
    w.uint32(tag(1, LENGTH_DELIMITED)).string(key)
    if (f.message) encodeNested(w, 2, f.message, value, at)
    else {
      checkScalar(f.scalar!, value, at)
      writeScalar(w.uint32(tag(2, WIRE[f.scalar!])), f.scalar!, value)
    }
    w.ldelim()
  }
}

function encodeTop(plan: MessagePlan, obj: unknown): Uint8Array {
  const w = protobuf.Writer.create()
  encodeMessage(w, plan, obj, plan.name)
  const bytes = w.finish()
  // The writer hands out views of a shared slab (and Buffers on Node): return bytes of our own,
  // so `bytes.buffer` is exactly the message everywhere.
  const out = new Uint8Array(bytes.length)
  out.set(bytes)
  return out
}

// ---- decoding ----
//
// Specialized once per message type (with plain data and closures: no code generated at run
// time). A message's decoder reads each tag, finds the field in an array indexed by field
// number, reads its value (strings, bools, doubles, uint32 and nested messages inline, the
// other kinds through a small closure made for the field) and stores it straight into the
// result object, in .proto order: fields arrive in that order from any encoder, and one that
// does not makes the message fall back to slots assembled at the end. The wire-level reads
// mirror protobufjs' Reader (same bounds, same error messages), without its Long objects: a
// 64-bit integer is read as two 32-bit halves and becomes a plain number. Paths for error
// messages ("ResultBatch.results[3].http.status_code") are built only when throwing, from a
// stack of the nested fields being decoded.

/** The bytes being decoded and the position, as in protobufjs' Reader (buf, pos, len). */
class Cursor {
  pos = 0
  readonly len: number
  /** For floats and doubles, made on first use. */
  view: DataView | null = null
  constructor(readonly buf: Uint8Array) {
    this.len = buf.length
  }
}

/**
 * Reads one field's value (its tag already read, wire type not yet checked). `current` is what
 * the field holds so far (undefined if nothing): a repeated field appends to it and returns it.
 */
type FieldReader = (r: Cursor, wireType: number, current: unknown) => unknown

// How readField reads a field: the common kinds inline, the others through `Field.read`.
const K_OTHER = 0
const K_STRING = 1
const K_BOOL = 2
const K_DOUBLE = 3
const K_UINT32 = 4
const K_MESSAGE = 5
/** A field checked (every byte, as decoding would) but not built: see decodeBatchHeads. */
const K_CHECK = 6

/** What readField returns for a K_CHECK field: nothing to store. */
const CHECKED = Symbol('checked')

const SCALAR_KINDS: Record<string, number> = { string: K_STRING, bool: K_BOOL, double: K_DOUBLE, uint32: K_UINT32 }

interface Field {
  kind: number
  /** Position in .proto order: the JSON key order, and the index into slot arrays. */
  slot: number
  name: string
  /** The nested message (K_MESSAGE). */
  sub: Decoder | undefined
  read: FieldReader
  /** How checkBody checks the field without building it (else it reads it): repeated ones hold their count. */
  check?: FieldReader
  /** K_CHECK: the field as decoded, which this one checks instead. */
  checked?: Field
}

// What an unsent field becomes: absent (proto3 `optional`, messages), a default, [] or {}.
const ABSENT = 0
const DEFAULT = 1
const EMPTY_LIST = 2
const EMPTY_MAP = 3

interface Decoder {
  /** Fields by number (dense: numbers from DENSE_IDS on are looked up in `far`). */
  byId: (Field | undefined)[]
  far: Map<number, Field> | null
  /** By position in .proto order. */
  names: string[]
  unsent: number[]
  defaults: unknown[]
  /** Wrapper messages stand for a JSON null/array/object: see decodeWrapper. */
  wrapper: boolean
  /** A wrapper's field value (undefined if not sent) → the JSON value it stands for. */
  unwrap: (value: unknown) => unknown
  /** Values by position (undefined: not sent) → the decoded object in .proto order, or what a wrapper carries. */
  assemble: (slots: unknown[]) => unknown
}

const DENSE_IDS = 1024

// -- where we are, for error messages: the top message's name, then one frame per nested field --

let topName = ''
let depth = 0
const frameName: string[] = []
/** An index into a repeated field (number), a map key (string), or neither (undefined). */
const frameArg: (number | string | undefined)[] = []

function currentPath(): string {
  let path = topName
  for (let i = 0; i < depth; i++) {
    path += `.${frameName[i]}`
    const arg = frameArg[i]
    if (typeof arg === 'number') path += `[${arg}]`
    else if (typeof arg === 'string') path += `[${JSON.stringify(arg)}]`
  }
  return path
}

function fieldPath(name: string, index?: number): string {
  return index === undefined ? `${currentPath()}.${name}` : `${currentPath()}.${name}[${index}]`
}

function wireTypeError(path: string, got: number, want: number): CodecError {
  return new CodecError(`${path}: wire type ${got}, expected ${want}`)
}

function lengthError(path: string, length: number): CodecError {
  return new CodecError(`${path}: length ${length} runs past the end of the data`)
}

// -- wire-level reads: the same bounds checks and errors as protobufjs' Reader --

function indexOutOfRange(r: Cursor, length?: number): RangeError {
  return new RangeError(`index out of range: ${r.pos} + ${length || 1} > ${r.len}`)
}

function varint32NearEnd(r: Cursor): number {
  let value = 0
  for (let i = 0; i < 4; ++i) {
    if (r.pos >= r.len) throw indexOutOfRange(r)
    const b = r.buf[r.pos++]
    value = (value | ((b & 127) << (i * 7))) >>> 0
    if (b < 128) return value
  }
  throw indexOutOfRange(r)
}

/** Reader#uint32: tags, lengths of nested messages, uint32 values (up to 10 bytes, high ones ignored). */
function readUint32(r: Cursor): number {
  const buf = r.buf
  let pos = r.pos
  if (r.len - pos < 5) {
    if (pos >= r.len) throw indexOutOfRange(r)
    if (buf[pos] >= 128) return varint32NearEnd(r)
  }
  let b = buf[pos++]
  let value = b & 127
  if (b < 128) {
    r.pos = pos
    return value
  }
  b = buf[pos++]
  value = (value | ((b & 127) << 7)) >>> 0
  if (b < 128) {
    r.pos = pos
    return value
  }
  b = buf[pos++]
  value = (value | ((b & 127) << 14)) >>> 0
  if (b < 128) {
    r.pos = pos
    return value
  }
  b = buf[pos++]
  value = (value | ((b & 127) << 21)) >>> 0
  if (b < 128) {
    r.pos = pos
    return value
  }
  b = buf[pos++]
  value = (value | ((b & 15) << 28)) >>> 0
  if (b < 128) {
    r.pos = pos
    return value
  }
  for (let i = 0; i < 5; ++i) {
    if (pos >= r.len) {
      r.pos = pos
      throw indexOutOfRange(r)
    }
    if (buf[pos++] < 128) {
      r.pos = pos
      return value
    }
  }
  r.pos = pos
  throw new Error('invalid varint encoding')
}

/** Reader#size: the length prefix of strings, bytes and skipped fields (at most 2^31 - 1). */
function readSize(r: Cursor): number {
  const buf = r.buf
  let pos = r.pos
  if (r.len - pos < 5) {
    if (pos >= r.len) throw indexOutOfRange(r)
    if (buf[pos] >= 128) return varint32NearEnd(r)
  }
  let b = buf[pos++]
  let value = b & 127
  if (b < 128) {
    r.pos = pos
    return value
  }
  b = buf[pos++]
  value = (value | ((b & 127) << 7)) >>> 0
  if (b < 128) {
    r.pos = pos
    return value
  }
  b = buf[pos++]
  value = (value | ((b & 127) << 14)) >>> 0
  if (b < 128) {
    r.pos = pos
    return value
  }
  b = buf[pos++]
  value = (value | ((b & 127) << 21)) >>> 0
  if (b < 128) {
    r.pos = pos
    return value
  }
  r.pos = pos + 1
  if (buf[pos] > 7) throw new Error('invalid length encoding')
  return (value | (buf[pos] << 28)) >>> 0
}

/** Reader#tag: field tags inside skipped groups. */
function readTag(r: Cursor): number {
  const buf = r.buf
  let pos = r.pos
  if (r.len - pos < 5) {
    if (pos >= r.len) throw indexOutOfRange(r)
    if (buf[pos] >= 128) return varint32NearEnd(r)
  }
  let value = (buf[pos] & 127) >>> 0
  if (buf[pos++] < 128) {
    r.pos = pos
    return value
  }
  value = (value | ((buf[pos] & 127) << 7)) >>> 0
  if (buf[pos++] < 128) {
    r.pos = pos
    return value
  }
  value = (value | ((buf[pos] & 127) << 14)) >>> 0
  if (buf[pos++] < 128) {
    r.pos = pos
    return value
  }
  value = (value | ((buf[pos] & 127) << 21)) >>> 0
  if (buf[pos++] < 128) {
    r.pos = pos
    return value
  }
  value = (value | ((buf[pos] & 15) << 28)) >>> 0
  if (buf[pos] < 128 && (buf[pos] & 112) === 0) {
    r.pos = pos + 1
    return value
  }
  r.pos = pos + 1
  throw new Error('invalid tag encoding')
}

// The last 64-bit integer read, as protobufjs' LongBits: low and high 32 bits, unsigned.
let lo = 0
let hi = 0

/** Reader's readLongVarint, into `lo` and `hi`. */
function readVarint64(r: Cursor): void {
  const buf = r.buf
  let i = 0
  let b: number
  lo = 0
  hi = 0
  if (r.len - r.pos > 4) {
    for (; i < 4; ++i) {
      b = buf[r.pos++]
      lo = (lo | ((b & 127) << (i * 7))) >>> 0
      if (b < 128) return
    }
    b = buf[r.pos++]
    lo = (lo | ((b & 127) << 28)) >>> 0
    hi = (hi | ((b & 127) >> 4)) >>> 0
    if (b < 128) return
    i = 0
  } else {
    for (; i < 4; ++i) {
      if (r.pos >= r.len) throw indexOutOfRange(r)
      b = buf[r.pos++]
      lo = (lo | ((b & 127) << (i * 7))) >>> 0
      if (b < 128) return
    }
    throw indexOutOfRange(r)
  }
  if (r.len - r.pos > 4) {
    for (; i < 5; ++i) {
      b = buf[r.pos++]
      hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0
      if (b < 128) return
    }
  } else {
    for (; i < 5; ++i) {
      if (r.pos >= r.len) throw indexOutOfRange(r)
      b = buf[r.pos++]
      hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0
      if (b < 128) return
    }
  }
  throw new Error('invalid varint encoding')
}

function readFixed32(r: Cursor): number {
  if (r.pos + 4 > r.len) throw indexOutOfRange(r, 4)
  const buf = r.buf
  const p = r.pos
  r.pos = p + 4
  return (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)) >>> 0
}

function readFixed64(r: Cursor): void {
  if (r.pos + 8 > r.len) throw indexOutOfRange(r, 8)
  lo = readFixed32(r)
  hi = readFixed32(r)
}

/** `lo`/`hi` as Long#toNumber would give them (exact within the safe range, unsafe outside it). */
function unsignedNumber(): number {
  return hi * 4294967296 + lo
}

function signedNumber(): number {
  return (hi | 0) * 4294967296 + lo
}

/** LongBits#zzDecode. */
function zigZag64(): void {
  const mask = -(lo & 1)
  lo = (((lo >>> 1) | (hi << 31)) ^ mask) >>> 0
  hi = ((hi >>> 1) ^ mask) >>> 0
}

/** `lo`/`hi` in decimal, as Long#toString: only for the error message. */
function longString(signed: boolean): string {
  const bits = (BigInt(hi) << 32n) | BigInt(lo)
  return (signed ? BigInt.asIntN(64, bits) : bits).toString()
}

function unsafeError(path: string, signed: boolean): CodecError {
  return new CodecError(`${path}: ${longString(signed)} is outside JavaScript's safe integer range`)
}

function viewOf(r: Cursor): DataView {
  return (r.view ??= new DataView(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength))
}

function readDouble(r: Cursor): number {
  if (r.pos + 8 > r.len) throw indexOutOfRange(r, 4) // sic: protobufjs reports 4
  const value = viewOf(r).getFloat64(r.pos, true)
  r.pos += 8
  return value
}

function readFloat(r: Cursor): number {
  if (r.pos + 4 > r.len) throw indexOutOfRange(r, 4)
  const value = viewOf(r).getFloat32(r.pos, true)
  r.pos += 4
  return value
}

function readBool(r: Cursor): boolean {
  const buf = r.buf
  if (r.pos < r.len && buf[r.pos] < 2) return buf[r.pos++] === 1
  let value = false
  for (let i = 0; i < 10; ++i) {
    if (r.pos >= r.len) throw indexOutOfRange(r)
    const b = buf[r.pos++]
    if (b & 127) value = true
    if (b < 128) return value
  }
  throw new Error('invalid varint encoding')
}

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

/**
 * Node's native latin1 decoder, where there is one (the hub): for ASCII it is UTF-8's answer,
 * made as one flat string (the hub hashes ids and names as map keys) instead of pieces joined.
 */
const latin1Slice = (globalThis as { Buffer?: { prototype: { latin1Slice?: (this: Uint8Array, start: number, end: number) => string } } }).Buffer
  ?.prototype.latin1Slice

function isAscii(buf: Uint8Array, start: number, end: number): boolean {
  let bits = 0
  for (let i = start; i < end; i++) bits |= buf[i]
  return bits < 0x80
}

/** protobufjs' utf8.read: ASCII by hand (or natively, from 16 bytes), anything else (and long strings) by TextDecoder. */
function readString(r: Cursor): string {
  let length = r.buf[r.pos] // undefined past the end
  if (length < 128) r.pos++ // one byte, the usual case
  else length = readSize(r)
  const start = r.pos
  const end = start + length
  if (end > r.len) throw indexOutOfRange(r, length)
  r.pos = end
  const buf = r.buf
  if (length < 1) return ''
  if (length >= 64) return utf8.decode(buf.subarray(start, end))
  if (length >= 16 && latin1Slice !== undefined && isAscii(buf, start, end)) return latin1Slice.call(buf, start, end)
  let str = ''
  let i = start
  for (; i + 7 < end; i += 8) {
    const c1 = buf[i]
    const c2 = buf[i + 1]
    const c3 = buf[i + 2]
    const c4 = buf[i + 3]
    const c5 = buf[i + 4]
    const c6 = buf[i + 5]
    const c7 = buf[i + 6]
    const c8 = buf[i + 7]
    if ((c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8) & 0x80) return str + utf8.decode(buf.subarray(i, end))
    str += String.fromCharCode(c1, c2, c3, c4, c5, c6, c7, c8)
  }
  // The last 0 to 7 bytes, in one call.
  const c1 = buf[i]
  const c2 = buf[i + 1]
  const c3 = buf[i + 2]
  const c4 = buf[i + 3]
  const c5 = buf[i + 4]
  const c6 = buf[i + 5]
  const c7 = buf[i + 6]
  switch (end - i) {
    case 0:
      return str
    case 1:
      return c1 & 0x80 ? str + utf8.decode(buf.subarray(i, end)) : str + String.fromCharCode(c1)
    case 2:
      return (c1 | c2) & 0x80 ? str + utf8.decode(buf.subarray(i, end)) : str + String.fromCharCode(c1, c2)
    case 3:
      return (c1 | c2 | c3) & 0x80 ? str + utf8.decode(buf.subarray(i, end)) : str + String.fromCharCode(c1, c2, c3)
    case 4:
      return (c1 | c2 | c3 | c4) & 0x80 ? str + utf8.decode(buf.subarray(i, end)) : str + String.fromCharCode(c1, c2, c3, c4)
    case 5:
      return (c1 | c2 | c3 | c4 | c5) & 0x80 ? str + utf8.decode(buf.subarray(i, end)) : str + String.fromCharCode(c1, c2, c3, c4, c5)
    case 6:
      return (c1 | c2 | c3 | c4 | c5 | c6) & 0x80 ? str + utf8.decode(buf.subarray(i, end)) : str + String.fromCharCode(c1, c2, c3, c4, c5, c6)
    default:
      return (c1 | c2 | c3 | c4 | c5 | c6 | c7) & 0x80 ? str + utf8.decode(buf.subarray(i, end)) : str + String.fromCharCode(c1, c2, c3, c4, c5, c6, c7)
  }
}

/** A view into the input, as protobufjs' Reader#bytes. */
function readBytes(r: Cursor): Uint8Array {
  const length = readSize(r)
  const start = r.pos
  const end = start + length
  if (end > r.len) throw indexOutOfRange(r, length)
  r.pos = end
  return r.buf.subarray(start, end)
}

function skip(r: Cursor, length?: number): void {
  if (length !== undefined) {
    if (r.pos + length > r.len) throw indexOutOfRange(r, length)
    r.pos += length
    return
  }
  do {
    if (r.pos >= r.len) throw indexOutOfRange(r)
  } while (r.buf[r.pos++] & 128)
}

/** Reader#skipType: a field from a newer contract, skipped. */
function skipType(r: Cursor, wireType: number, depth = 0, fieldNumber?: number): void {
  if (depth > protobuf.Reader.recursionLimit) throw new Error('max depth exceeded')
  if (fieldNumber === 0) throw new Error('illegal tag: field number 0')
  switch (wireType) {
    case 0:
      skip(r)
      break
    case 1:
      skip(r, 8)
      break
    case 2:
      skip(r, readSize(r))
      break
    case 3:
      while (true) {
        const t = readTag(r)
        const nested = t >>> 3
        wireType = t & 7
        if (!nested) throw new Error('illegal tag: field number 0')
        if (wireType === 4) {
          if (fieldNumber !== undefined && nested !== fieldNumber) throw new Error('invalid end group tag')
          break
        }
        skipType(r, wireType, depth + 1, nested)
      }
      break
    case 5:
      skip(r, 4)
      break
    default:
      throw new Error(`invalid wire type ${wireType} at offset ${r.pos}`)
  }
}

/** Reads a scalar of one type. 64-bit integers come back unchecked (their callers check SIGNED_LONG types). */
const READ: Record<string, (r: Cursor) => unknown> = {
  double: readDouble,
  float: readFloat,
  int32: (r) => readUint32(r) | 0,
  uint32: readUint32,
  sint32: (r) => {
    const value = readUint32(r)
    return ((value >>> 1) ^ -(value & 1)) | 0
  },
  fixed32: readFixed32,
  sfixed32: (r) => readFixed32(r) | 0,
  int64: (r) => {
    readVarint64(r)
    return signedNumber()
  },
  uint64: (r) => {
    readVarint64(r)
    return unsignedNumber()
  },
  sint64: (r) => {
    readVarint64(r)
    zigZag64()
    return signedNumber()
  },
  fixed64: (r) => {
    readFixed64(r)
    return unsignedNumber()
  },
  sfixed64: (r) => {
    readFixed64(r)
    return signedNumber()
  },
  bool: readBool,
  string: readString,
  bytes: readBytes,
}

const SIGNED_LONG: Record<string, boolean> = { int64: true, sint64: true, sfixed64: true, uint64: false, fixed64: false }

function defaultOf(type: string): unknown {
  if (type === 'string') return ''
  if (type === 'bool') return false
  if (type === 'bytes') return new Uint8Array(0)
  return 0
}

// -- the message loop --

/**
 * Decodes one message's fields up to `end`. Fields normally arrive in .proto order (every
 * encoder writes them so): each is then stored straight into the result object, the unsent
 * ones before it getting their defaults first. A field that comes back out of order switches
 * the message to slots (values by position), assembled in .proto order at the end.
 */
function decodeBody(r: Cursor, d: Decoder, end: number): unknown {
  if (d.wrapper) return decodeWrapper(r, d, end)
  const buf = r.buf
  const out: Json = {}
  /** Positions before `next` are settled in `out` (stored, defaulted or left absent). */
  let next = 0
  /** The value stored at position next - 1. */
  let last: unknown
  let slots: unknown[] | null = null
  while (r.pos < end) {
    let t = buf[r.pos]
    if (t < 128) r.pos++
    else t = readUint32(r)
    const f = fieldOf(r, d, t)
    if (f === undefined) continue
    const slot = f.slot
    let current: unknown
    if (slots !== null) current = slots[slot]
    else if (slot === next - 1) current = last
    else if (slot < next) {
      slots = slotsOf(d, out, next)
      current = slots[slot]
    }
    const value = readField(r, f, t & 7, current)
    if (value === CHECKED) continue
    if (slots !== null) slots[slot] = value
    else if (slot >= next) {
      while (next < slot) unsent(d, out, next++)
      out[f.name] = value
      next = slot + 1
      last = value
    } else if (value !== last) {
      out[f.name] = value // the same field again: the last one wins, in its place
      last = value
    }
  }
  if (r.pos !== end) throw new CodecError(`${currentPath()}: a field runs past the end of its message`)
  if (slots !== null) return d.assemble(slots)
  const size = d.names.length
  while (next < size) unsent(d, out, next++)
  return out
}

/** A wrapper message: one field, whose value (or its absence) is the JSON null, array or object. */
function decodeWrapper(r: Cursor, d: Decoder, end: number): unknown {
  let value: unknown
  while (r.pos < end) {
    const t = readUint32(r)
    const f = fieldOf(r, d, t)
    if (f !== undefined) value = readField(r, f, t & 7, value)
  }
  if (r.pos !== end) throw new CodecError(`${currentPath()}: a field runs past the end of its message`)
  return d.unwrap(value)
}

/** The field tag `t` names in `d`; undefined for a field from a newer contract, skipped here. */
function fieldOf(r: Cursor, d: Decoder, t: number): Field | undefined {
  const id = t >>> 3
  if (id === 0) throw new CodecError(`${currentPath()}: invalid field number 0 at offset ${r.pos}`)
  const f = id < d.byId.length ? d.byId[id] : d.far?.get(id)
  if (f === undefined) skipType(r, t & 7)
  return f
}

/** One field's value (its tag read): the common kinds here, the others by their reader. */
function readField(r: Cursor, f: Field, wt: number, current: unknown): unknown {
  switch (f.kind) {
    case K_STRING:
      if (wt !== 2) throw wireTypeError(fieldPath(f.name), wt, 2)
      return readString(r)
    case K_BOOL:
      if (wt !== 0) throw wireTypeError(fieldPath(f.name), wt, 0)
      return readBool(r)
    case K_DOUBLE:
      if (wt !== 1) throw wireTypeError(fieldPath(f.name), wt, 1)
      return readDouble(r)
    case K_UINT32:
      if (wt !== 0) throw wireTypeError(fieldPath(f.name), wt, 0)
      return readUint32(r)
    case K_MESSAGE: {
      if (wt !== LENGTH_DELIMITED) throw wireTypeError(fieldPath(f.name), wt, LENGTH_DELIMITED)
      const end = nestedEnd(r, f.name)
      if (end === r.pos && f.sub!.wrapper) return f.sub!.unwrap(undefined) // an empty wrapper: null, [] or {}
      frameName[depth] = f.name
      frameArg[depth] = undefined
      depth++
      const value = decodeBody(r, f.sub!, end)
      depth--
      return value
    }
    case K_CHECK:
      checkValue(r, f.checked!, wt, undefined)
      return CHECKED
    default:
      return f.read(r, wt, current)
  }
}

// -- checking without building: the same reads, bounds and errors as decoding, no objects --

/** A nested message field, its tag read: checked as readField would decode it. */
function checkMessage(r: Cursor, f: Field, wt: number): void {
  if (wt !== LENGTH_DELIMITED) throw wireTypeError(fieldPath(f.name), wt, LENGTH_DELIMITED)
  const end = nestedEnd(r, f.name)
  if (end === r.pos && f.sub!.wrapper) return
  frameName[depth] = f.name
  frameArg[depth] = undefined
  depth++
  checkBody(r, f.sub!, end)
  depth--
}

/**
 * decodeBody (and decodeWrapper) without the result: every field read, bounds-checked and
 * type-checked the same way, in the same order, so it throws exactly where decoding would.
 * Strings (repeated ones too) are skipped, not decoded (decoding never rejects a string's
 * bytes: invalid UTF-8 becomes U+FFFD), doubles skipped, repeated messages counted. The rarer
 * kinds (other scalars, other repeated fields, maps) are read by their own readers, their
 * values dropped (at the end of the message for what repeats).
 */
function checkBody(r: Cursor, d: Decoder, end: number): void {
  /** What the repeated fields and maps read so far hold, by slot (their readers append to it). */
  let held: unknown[] | null = null
  while (r.pos < end) {
    const t = readUint32(r)
    const f = fieldOf(r, d, t)
    if (f === undefined) continue
    const value = checkValue(r, f, t & 7, held?.[f.slot])
    if (value !== undefined) (held ??= [])[f.slot] = value
  }
  if (r.pos !== end) throw new CodecError(`${currentPath()}: a field runs past the end of its message`)
}

/**
 * One field's value (its tag read) checked as readField would read it. Returns nothing for the
 * kinds checked without building; the others (`held`: what the field holds so far) as read.
 */
function checkValue(r: Cursor, f: Field, wt: number, held: unknown): unknown {
  switch (f.kind) {
    case K_STRING:
      if (wt !== LENGTH_DELIMITED) throw wireTypeError(fieldPath(f.name), wt, LENGTH_DELIMITED)
      skip(r, readSize(r))
      return undefined
    case K_BOOL:
      if (wt !== 0) throw wireTypeError(fieldPath(f.name), wt, 0)
      readBool(r)
      return undefined
    case K_DOUBLE:
      if (wt !== 1) throw wireTypeError(fieldPath(f.name), wt, 1)
      if (r.pos + 8 > r.len) throw indexOutOfRange(r, 4) // as readDouble
      r.pos += 8
      return undefined
    case K_UINT32:
      if (wt !== 0) throw wireTypeError(fieldPath(f.name), wt, 0)
      readUint32(r)
      return undefined
    case K_MESSAGE:
      checkMessage(r, f, wt)
      return undefined
    default:
      return (f.check ?? f.read)(r, wt, held)
  }
}

/** What a field sent nowhere in its message becomes: nothing, its default, [] or {}. */
function unsent(d: Decoder, out: Json, slot: number): void {
  switch (d.unsent[slot]) {
    case DEFAULT:
      out[d.names[slot]] = d.defaults[slot] ?? new Uint8Array(0) // bytes: a fresh empty array each time
      break
    case EMPTY_LIST:
      out[d.names[slot]] = []
      break
    case EMPTY_MAP:
      out[d.names[slot]] = {}
      break
  }
}

/** The settled positions of `out` as slots (a default stored there is as good as sent). */
function slotsOf(d: Decoder, out: Json, next: number): unknown[] {
  const slots: unknown[] = []
  for (let i = 0; i < next; i++) slots[i] = Object.hasOwn(out, d.names[i]) ? out[d.names[i]] : undefined
  return slots
}

/** Reads a length prefix; returns where the nested bytes end (`name`, `index`: the field, for errors). */
function nestedEnd(r: Cursor, name: string, index?: number): number {
  let length = r.buf[r.pos] // undefined past the end
  if (length < 128) r.pos++ // one byte, the usual case
  else length = readUint32(r)
  const end = r.pos + length
  if (end > r.len) throw lengthError(fieldPath(name, index), length)
  return end
}

/** When set, decodeBatchHeads collects the bytes of each ResultBatch.results element. */
let bodySink: Uint8Array[] | null = null

// -- readers of the fields readField does not read inline --

function scalarReader(name: string, type: string): FieldReader {
  const wire = WIRE[type]
  const read = READ[type]
  const signed = SIGNED_LONG[type]
  if (signed === undefined) {
    return (r, wt) => {
      if (wt !== wire) throw wireTypeError(fieldPath(name), wt, wire)
      return read(r)
    }
  }
  return (r, wt) => {
    if (wt !== wire) throw wireTypeError(fieldPath(name), wt, wire)
    const value = read(r)
    if (!Number.isSafeInteger(value)) throw unsafeError(fieldPath(name), signed)
    return value
  }
}

function repeatedScalarReader(name: string, type: string): FieldReader {
  const wire = WIRE[type]
  const packable = PACKABLE[type] !== undefined
  const read = READ[type]
  const signed = SIGNED_LONG[type]
  const one = (r: Cursor, items: unknown[]): void => {
    const value = read(r)
    if (signed !== undefined && !Number.isSafeInteger(value)) throw unsafeError(fieldPath(name, items.length), signed)
    items.push(value)
  }
  return (r, wt, current) => {
    const items = (current as unknown[] | undefined) ?? []
    if (packable && wt === LENGTH_DELIMITED) {
      const end = nestedEnd(r, name)
      while (r.pos < end) one(r, items)
      if (r.pos !== end) throw new CodecError(`${fieldPath(name)}: packed values run past their length`)
    } else {
      if (wt !== wire) throw wireTypeError(fieldPath(name, items.length), wt, wire)
      one(r, items)
    }
    return items
  }
}

/**
 * repeatedScalarReader's check for strings and bytes (see checkBody): each item's length read
 * and checked as the reader does, nothing made; what it holds is the count of items so far.
 */
function repeatedLengthsChecker(name: string, type: string): FieldReader {
  const wire = WIRE[type]
  return (r, wt, current) => {
    const count = (current as number | undefined) ?? 0
    if (wt !== wire) throw wireTypeError(fieldPath(name, count), wt, wire)
    skip(r, readSize(r))
    return count + 1
  }
}

function repeatedMessageReader(name: string, sub: Decoder, collectBodies: boolean): FieldReader {
  return (r, wt, current) => {
    const items = (current as unknown[] | undefined) ?? []
    const index = items.length
    if (wt !== LENGTH_DELIMITED) throw wireTypeError(fieldPath(name, index), wt, LENGTH_DELIMITED)
    const end = nestedEnd(r, name, index)
    if (collectBodies && bodySink !== null) bodySink.push(r.buf.subarray(r.pos, end))
    frameName[depth] = name
    frameArg[depth] = index
    depth++
    items.push(decodeBody(r, sub, end))
    depth--
    return items
  }
}

/** repeatedMessageReader's check (see checkBody): what it holds is the count of items so far. */
function repeatedMessageChecker(name: string, sub: Decoder): FieldReader {
  return (r, wt, current) => {
    const index = (current as number | undefined) ?? 0
    if (wt !== LENGTH_DELIMITED) throw wireTypeError(fieldPath(name, index), wt, LENGTH_DELIMITED)
    const end = nestedEnd(r, name, index)
    frameName[depth] = name
    frameArg[depth] = index
    depth++
    checkBody(r, sub, end)
    depth--
    return index + 1
  }
}

/** One map entry (key 1, value 2); a missing key or value is its type's default. */
function mapReader(name: string, valueType: string | undefined, sub: Decoder | undefined): FieldReader {
  const wire = valueType === undefined ? LENGTH_DELIMITED : WIRE[valueType]
  const read = valueType === undefined ? undefined : READ[valueType]
  const signed = valueType === undefined ? undefined : SIGNED_LONG[valueType]
  return (r, wt, current) => {
    if (wt !== LENGTH_DELIMITED) throw wireTypeError(fieldPath(name), wt, LENGTH_DELIMITED)
    const entries = (current as Json | undefined) ?? {}
    const end = nestedEnd(r, name)
    // The map's frame: path `….name`, and `….name["key"]` while a value is read.
    const frame = depth
    frameName[frame] = name
    frameArg[frame] = undefined
    depth++
    let key = ''
    let value: unknown
    while (r.pos < end) {
      const t = readUint32(r)
      const id = t >>> 3
      if (id === 1) {
        if ((t & 7) !== LENGTH_DELIMITED) throw wireTypeError(`${currentPath()} key`, t & 7, LENGTH_DELIMITED)
        key = readString(r)
      } else if (id === 2) {
        frameArg[frame] = key
        if ((t & 7) !== wire) throw wireTypeError(currentPath(), t & 7, wire)
        if (sub !== undefined) {
          const length = readUint32(r)
          const valueEnd = r.pos + length
          if (valueEnd > r.len) throw lengthError(currentPath(), length)
          value = decodeBody(r, sub, valueEnd)
        } else {
          value = read!(r)
          if (signed !== undefined && !Number.isSafeInteger(value)) throw unsafeError(currentPath(), signed)
        }
        frameArg[frame] = undefined
      } else if (id === 0) throw new CodecError(`${currentPath()}: invalid field number 0`)
      else skipType(r, t & 7)
    }
    if (r.pos !== end) throw new CodecError(`${currentPath()}: a map entry runs past its length`)
    depth--
    // A value left out is the type's default, as in every protobuf implementation.
    if (value === undefined) value = sub !== undefined ? sub.assemble([]) : defaultOf(valueType!)
    // Own property even for "__proto__", so a hostile key cannot reach the prototype.
    Object.defineProperty(entries, key, { value, enumerable: true, writable: true, configurable: true })
    return entries
  }
}

/** Fields that readField reads inline have no reader of their own. */
const INLINE: FieldReader = () => {
  throw new Error('unreachable')
}

// -- per-message decoders --

const decoders = new Map<MessagePlan, Decoder>()

function decoderOf(plan: MessagePlan): Decoder {
  let d = decoders.get(plan)
  if (d) return d
  const maxId = plan.fields.reduce((max, f) => Math.max(max, f.id), 0)
  const names = plan.fields.map((f) => f.name)
  const unsentAs = plan.fields.map((f) => (f.map ? EMPTY_MAP : f.repeated ? EMPTY_LIST : f.optional ? ABSENT : DEFAULT))
  const defaults = plan.fields.map((f) => (f.scalar === undefined || f.scalar === 'bytes' ? undefined : defaultOf(f.scalar)))
  d = {
    byId: new Array<Field | undefined>(Math.min(maxId, DENSE_IDS - 1) + 1).fill(undefined),
    far: maxId >= DENSE_IDS ? new Map() : null,
    names,
    unsent: unsentAs,
    defaults,
    wrapper: plan.wrapper !== undefined,
    unwrap: unwrapper(plan.wrapper),
    assemble: () => undefined,
  }
  d.assemble = assembler(plan, d)
  decoders.set(plan, d) // before the fields, so a recursive type finds itself
  plan.fields.forEach((f, slot) => {
    let kind = K_OTHER
    let sub: Decoder | undefined
    let read = INLINE
    let check: FieldReader | undefined
    if (f.map) read = mapReader(f.name, f.scalar, f.message && decoderOf(f.message))
    else if (f.repeated) {
      if (f.message) {
        read = repeatedMessageReader(f.name, decoderOf(f.message), plan.name === 'ResultBatch' && f.name === 'results')
        check = repeatedMessageChecker(f.name, decoderOf(f.message))
      } else {
        read = repeatedScalarReader(f.name, f.scalar!)
        if (f.scalar === 'string' || f.scalar === 'bytes') check = repeatedLengthsChecker(f.name, f.scalar)
      }
    } else if (f.message) {
      kind = K_MESSAGE
      sub = decoderOf(f.message)
    } else {
      kind = SCALAR_KINDS[f.scalar!] ?? K_OTHER
      if (kind === K_OTHER) {
        const scalar = (read = scalarReader(f.name, f.scalar!))
        check = (r, wt, current) => void scalar(r, wt, current) // one value: nothing to hold
      }
    }
    const field: Field = { kind, slot, name: f.name, sub, read, check }
    if (f.id < DENSE_IDS) d.byId[f.id] = field
    else d.far!.set(f.id, field)
  })
  return d
}

/** A wrapper's field value → the JSON null, array or object it carries. */
function unwrapper(kind: Wrapper | undefined): (value: unknown) => unknown {
  switch (kind) {
    case 'nullable':
      return (value) => (value === undefined ? null : value)
    case 'list':
      return (value) => (value === undefined ? [] : value)
    case 'map':
      return (value) => (value === undefined ? {} : value)
    default:
      return (value) => value
  }
}

/** Slots (values by position) → the decoded value. */
function assembler(plan: MessagePlan, d: Decoder): (slots: unknown[]) => unknown {
  if (plan.wrapper) return (slots) => d.unwrap(slots[0])
  return (slots) => {
    const out: Json = {}
    for (let i = 0; i < d.names.length; i++) {
      if (slots[i] !== undefined) out[d.names[i]] = slots[i]
      else unsent(d, out, i)
    }
    return out
  }
}

/** `full` with some of its fields read another way (`replace` returns the new field, or undefined to keep it). */
function variantOf(plan: MessagePlan, full: Decoder, replace: (f: Field) => Field | undefined): Decoder {
  const swap = (f: Field | undefined) => (f && replace(f)) ?? f
  const d: Decoder = {
    ...full,
    byId: full.byId.map(swap),
    far: full.far && new Map([...full.far].map(([id, f]) => [id, swap(f)!])),
  }
  d.assemble = assembler(plan, d)
  return d
}

let headDecoders: { result: Decoder; batch: Decoder } | null = null

/**
 * Decoders of a batch whose results stop at their head (RESULT_HEAD): every other field is
 * checked as decoding would check it, and left out.
 */
function headDecodersOf(): { result: Decoder; batch: Decoder } {
  if (headDecoders) return headDecoders
  const head = new Set<string>(RESULT_HEAD)
  const result = variantOf(RESULT, decoderOf(RESULT), (f) => {
    if (head.has(f.name)) return undefined
    if (RESULT.fields[f.slot].repeated || RESULT.fields[f.slot].map) {
      throw new Error(`vantage.proto: ProbeResult.${f.name} is repeated or a map: a result's head cannot leave it out`)
    }
    return { ...f, kind: K_CHECK, checked: f }
  })
  result.unsent = result.unsent.map((u, slot) => (head.has(result.names[slot]) ? u : ABSENT)) // not even a default
  const batch = variantOf(BATCH, decoderOf(BATCH), (f) =>
    f.name === 'results' ? { ...f, read: repeatedMessageReader(f.name, result, true) } : undefined,
  )
  return (headDecoders = { result, batch })
}

function decodeTop(plan: MessagePlan, bytes: Uint8Array, decoder: Decoder = decoderOf(plan)): Json {
  if (!(bytes instanceof Uint8Array)) {
    throw new CodecError(`${PROTO_PACKAGE}.${plan.name}: expected bytes (Uint8Array), got ${describe(bytes)}`)
  }
  const r = new Cursor(bytes)
  topName = plan.name
  depth = 0
  try {
    return decodeBody(r, decoder, r.len) as Json
  } catch (err) {
    if (err instanceof CodecError) {
      throw new CodecError(`malformed protobuf: ${err.message}`, { cause: err })
    }
    // Truncated data or an invalid varint or wire type (the errors protobufjs' Reader throws).
    const reason = err instanceof Error ? err.message : String(err)
    throw new CodecError(`malformed protobuf: ${plan.name}: ${reason}`, { cause: err })
  }
}

// ---- checks that turn "parses as protobuf" into "is a batch" ----

/** `prefix`, or `prefix.results[index]` for a result inside a batch (built only to throw). */
function pathOf(prefix: string, index: number | undefined): string {
  return index === undefined ? prefix : `${prefix}.results[${index}]`
}

function isNonEmptyString(value: unknown): boolean {
  return typeof value === 'string' && value !== ''
}

function emptyError(prefix: string, index: number | undefined, key: string): CodecError {
  return new CodecError(`${pathOf(prefix, index)}.${key}: must be a non-empty string`)
}

/** The identity the hub dedupes and attributes by; everything else is the probe's business. */
function checkResultIdentity(result: ResultHead, prefix: string, index?: number): void {
  if (!isNonEmptyString(result.check)) throw emptyError(prefix, index, 'check')
  if (!isNonEmptyString(result.vantage)) throw emptyError(prefix, index, 'vantage')
  if (!isNonEmptyString(result.agent_id)) throw emptyError(prefix, index, 'agent_id')
  if (!isNonEmptyString(result.result_id)) throw emptyError(prefix, index, 'result_id')
  if (!isNonEmptyString(result.started_at)) throw emptyError(prefix, index, 'started_at')
  if (!CHECK_TYPES.includes(result.type)) {
    throw new CodecError(`${pathOf(prefix, index)}.type: ${describe(result.type)} is not one of ${CHECK_TYPES.join(', ')}`)
  }
  if (Number.isNaN(Date.parse(result.started_at))) {
    throw new CodecError(`${pathOf(prefix, index)}.started_at: ${describe(result.started_at)} is not an ISO 8601 time`)
  }
}

function checkBatch(batch: ResultBatch | BatchOfHeads, prefix: string): void {
  if (!isNonEmptyString(batch.agent_id)) throw emptyError(prefix, undefined, 'agent_id')
  if (!isNonEmptyString(batch.vantage)) throw emptyError(prefix, undefined, 'vantage')
  batch.results.forEach((r, i) => checkResultIdentity(r, prefix, i))
}

// ---- the API ----

const BATCH = messagePlan('ResultBatch')
const RESULT = messagePlan('ProbeResult')
const SIGNED = messagePlan('SignedBatch')
const ACK = messagePlan('PushAck')

/** Throws CodecError naming the first field that does not fit the contract. */
export function encodeBatch(batch: ResultBatch): Uint8Array {
  const bytes = encodeTop(BATCH, batch)
  checkBatch(batch, 'ResultBatch')
  return bytes
}

/** Throws CodecError (never anything else) when the bytes are not a valid batch. */
export function decodeBatch(bytes: Uint8Array): ResultBatch {
  return checkedBatch(decodeTop(BATCH, bytes) as unknown as ResultBatch)
}

/**
 * decodeBatch for the hub's ingest: the same checks and errors, but each result decoded only
 * down to its head (RESULT_HEAD; its other fields are checked, not built: most of a result's
 * decoding and garbage), and the bytes of each result as they came: `bodies[i]` is the
 * ProbeResult message of `batch.results[i]` inside `bytes` (a view, not a copy), so
 * `decodeResult(bodies[i])` is the whole result, with `batch.results[i]` as its head.
 */
export function decodeBatchHeads(bytes: Uint8Array): { batch: BatchOfHeads; bodies: Uint8Array[] } {
  const bodies: Uint8Array[] = []
  let batch: BatchOfHeads
  bodySink = bodies
  try {
    batch = decodeTop(BATCH, bytes, headDecodersOf().batch) as unknown as BatchOfHeads
  } finally {
    bodySink = null
  }
  return { batch: checkedBatch(batch), bodies }
}

function checkedBatch<B extends ResultBatch | BatchOfHeads>(batch: B): B {
  try {
    checkBatch(batch, 'ResultBatch')
  } catch (err) {
    throw new CodecError(`malformed batch: ${(err as Error).message}`, { cause: err })
  }
  return batch
}

/** One result alone, e.g. for an agent's durable outbox: fails at enqueue rather than at push. */
export function encodeResult(result: ProbeResult): Uint8Array {
  const bytes = encodeTop(RESULT, result)
  checkResultIdentity(result, 'ProbeResult')
  return bytes
}

export function decodeResult(bytes: Uint8Array): ProbeResult {
  const result = decodeTop(RESULT, bytes) as unknown as ProbeResult
  try {
    checkResultIdentity(result, 'ProbeResult')
  } catch (err) {
    throw new CodecError(`malformed result: ${(err as Error).message}`, { cause: err })
  }
  return result
}

export function encodeSignedBatch(message: SignedBatch): Uint8Array {
  return encodeTop(SIGNED, message)
}

export function decodeSignedBatch(bytes: Uint8Array): SignedBatch {
  return decodeTop(SIGNED, bytes) as unknown as SignedBatch
}

let signedAsBytes: Decoder | null = null

/**
 * decodeSignedBatch (the same checks and errors) with the JWS left as its bytes, a view into
 * `bytes`: the hub reads them as it reads an HTTP body (proto/envelope.ts), so no 60 KB string
 * is made. A message without it has the string default, ''.
 */
export function decodeSignedBatchBytes(bytes: Uint8Array): { jws: Uint8Array | '' } {
  signedAsBytes ??= variantOf(SIGNED, decoderOf(SIGNED), (f) =>
    f.name === 'jws'
      ? {
          ...f,
          kind: K_OTHER,
          read: (r, wt) => {
            if (wt !== LENGTH_DELIMITED) throw wireTypeError(fieldPath(f.name), wt, LENGTH_DELIMITED)
            return readBytes(r)
          },
        }
      : undefined,
  )
  return decodeTop(SIGNED, bytes, signedAsBytes) as unknown as { jws: Uint8Array | '' }
}

export function encodePushAck(ack: PushAck): Uint8Array {
  return encodeTop(ACK, ack)
}

export function decodePushAck(bytes: Uint8Array): PushAck {
  return decodeTop(ACK, bytes) as unknown as PushAck
}

/** gRPC method paths of `service Ingest`, for clients and servers built on any gRPC library. */
export const INGEST_METHODS = {
  Push: `/${PROTO_PACKAGE}.Ingest/Push`,
  PushStream: `/${PROTO_PACKAGE}.Ingest/PushStream`,
} as const
