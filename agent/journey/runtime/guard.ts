// ArrayBuffers live outside the V8 heap, so the worker's heap cap does not bound them: a script
// allocating `new Uint8Array(1e9)` in a loop would take the agent's memory. Every way a script
// can allocate one goes through these constructors (species lookups included), so they count
// bytes against a budget. SharedArrayBuffer and WebAssembly memories are simply not there.
import { MEMORY_CAP } from './state.ts'

export function guardBinaryAllocations(budgetBytes: number): void {
  let used = 0
  const charge = (bytes: number) => {
    used += Math.max(0, bytes)
    if (used > budgetBytes) throw new RangeError(`${MEMORY_CAP}: binary buffers exceed ${Math.round(budgetBytes / 1048576)} MB`)
  }
  const g = globalThis as Record<string, unknown>
  delete g.SharedArrayBuffer
  delete g.WebAssembly

  const OriginalArrayBuffer = ArrayBuffer
  const proto = OriginalArrayBuffer.prototype as unknown as Record<string, unknown>
  // transfer() can grow a buffer without a constructor call.
  delete proto.transfer
  delete proto.transferToFixedLength
  const guardedArrayBuffer = new Proxy(OriginalArrayBuffer, {
    construct(target, args, newTarget) {
      const options = args[1] as { maxByteLength?: number } | undefined
      charge(Math.max(Number(args[0]) || 0, Number(options?.maxByteLength) || 0))
      return Reflect.construct(target, args, newTarget)
    },
  })
  replace(g, 'ArrayBuffer', OriginalArrayBuffer, guardedArrayBuffer)

  const typed = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]
  for (const T of typed) {
    const guarded = new Proxy(T, {
      construct(target, args, newTarget) {
        const first = args[0]
        if (typeof first === 'number') charge(first * T.BYTES_PER_ELEMENT)
        const made = Reflect.construct(target, args, newTarget) as ArrayBufferView
        // From an array or another typed array: a new buffer, counted once it exists (its size
        // is bounded by the source, which is on the heap already).
        if (typeof first === 'object' && first !== null && !(first instanceof OriginalArrayBuffer)) charge(made.byteLength)
        return made
      },
    })
    replace(g, T.name, T, guarded)
  }
}

function replace(g: Record<string, unknown>, name: string, original: { prototype: object }, guarded: unknown): void {
  // Instances find their constructor (and species) through prototype.constructor.
  Object.defineProperty(original.prototype, 'constructor', { value: guarded, writable: true, configurable: true, enumerable: false })
  Object.defineProperty(g, name, { value: guarded, writable: true, configurable: true, enumerable: false })
}
