// `npm start`: the embedded default. Until the hub lands, it says so and shows what works today.
export async function run(_args: string[]): Promise<number> {
  process.stdout.write(`Vantage: the hub is not built yet in this version, so there is no embedded hub and agent to start.

What works today is the probe engine:
  npx vantage probe http https://example.test/ --expect-status 200-299
  npx vantage probe tls example.test:443
  npx vantage probe smtp mx.example.test:25 --starttls
  npx vantage probe dns example.test --type MX --server 127.0.0.1:53
  npx vantage probe --help
`)
  return 0
}
