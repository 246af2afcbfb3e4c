// Regenerates the embedded descriptor from vantage.proto. A filter, so that it imports nothing
// Node-only (test/portability.test.ts holds all of proto/ to that):
//   node --import tsx proto/gen-descriptor.ts < proto/vantage.proto > proto/vantage.descriptor.ts
// The codec embeds the descriptor because the edge worker cannot read the .proto at run time;
// test/proto/codec.test.ts fails when the two drift apart.
import protobuf from 'protobufjs'

/** The protobufjs JSON descriptor of a .proto source, with field names as written (snake_case). */
export function descriptorOf(protoSource: string): protobuf.INamespace {
  return protobuf.parse(protoSource, { keepCase: true }).root.toJSON()
}

/** The text of proto/vantage.descriptor.ts for a descriptor. */
export function descriptorModule(descriptor: protobuf.INamespace): string {
  return [
    '// Generated from proto/vantage.proto by proto/gen-descriptor.ts: do not edit.',
    '//   node --import tsx proto/gen-descriptor.ts < proto/vantage.proto > proto/vantage.descriptor.ts',
    '',
    `export const VANTAGE_DESCRIPTOR = ${JSON.stringify(descriptor, null, 2)}`,
    '',
  ].join('\n')
}

async function main(): Promise<number> {
  if (process.stdin.isTTY) {
    process.stderr.write('usage: node --import tsx proto/gen-descriptor.ts < proto/vantage.proto > proto/vantage.descriptor.ts\n')
    return 2
  }
  let source = ''
  for await (const chunk of process.stdin) source += chunk
  if (source.trim() === '') {
    process.stderr.write('gen-descriptor: empty input; pipe proto/vantage.proto into it\n')
    return 1
  }
  process.stdout.write(descriptorModule(descriptorOf(source)))
  return 0
}

// Run as a script, not when a test imports the functions above.
if (typeof process !== 'undefined' && process.argv[1]?.endsWith('gen-descriptor.ts')) {
  process.exitCode = await main()
}
