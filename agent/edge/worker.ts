// The Vantage edge worker: a vantage on Cloudflare's network, with no VM (DESIGN.md, "The edge
// worker"). A module Worker:
//   scheduled  every minute (deploy/edge/wrangler.toml): one run (agent/edge/run.ts)
//   GET  /health  whether the worker is configured, and how its last run in this isolate went
//   POST /run     a run now, of every assigned check; `Authorization: Bearer <MANUAL_RUN_TOKEN>`
//                 (disabled without the var); answers the run's report as JSON
// It shares the portable core with the Node agent: proto/ (codec, envelope, keys) and
// agent/core/ (assignment, assertions, challenge classifier, runner). No Node compatibility flag.
import { readSettings, SettingsError, type Env } from './env.ts'
import { runOnce, type RunReport } from './run.ts'

export { VantageQueue } from './queue.ts'

// This isolate's last run, for /health.
let lastRun: RunReport | null = null

export default {
  async scheduled(controller, env) {
    const report = await runOnce(env, { kind: 'cron', scheduledTime: controller.scheduledTime, cron: controller.cron })
    lastRun = report
    // A misconfigured worker fails its cron invocations, so the dashboard shows it.
    if (report.error) throw new Error(report.error)
  },

  async fetch(request, env) {
    const url = new URL(request.url)
    if (url.pathname === '/health') {
      if (request.method !== 'GET' && request.method !== 'HEAD') return json(405, { error: 'use GET' }, { allow: 'GET, HEAD' })
      return health(env)
    }
    if (url.pathname === '/run') {
      if (request.method !== 'POST') return json(405, { error: 'use POST, with Authorization: Bearer <MANUAL_RUN_TOKEN>' }, { allow: 'POST' })
      const token = typeof env.MANUAL_RUN_TOKEN === 'string' ? env.MANUAL_RUN_TOKEN.trim() : ''
      if (token === '') return json(404, { error: 'manual runs are disabled: set the MANUAL_RUN_TOKEN var to enable them', reason: 'disabled' })
      const given = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1] ?? ''
      if (!(await sameSecret(given, token))) {
        return json(401, { error: 'Authorization: Bearer <MANUAL_RUN_TOKEN> is missing or wrong', reason: 'unauthorized' }, { 'www-authenticate': 'Bearer' })
      }
      const report = await runOnce(env, { kind: 'manual', scheduledTime: Date.now() })
      lastRun = report
      return json(report.error ? 500 : 200, report)
    }
    return json(404, { error: 'not found: GET /health, POST /run' })
  },
} satisfies ExportedHandler<Env>

function health(env: Env): Response {
  let problem: string | null = null
  try {
    readSettings(env)
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err
    problem = err.message
  }
  const last = lastRun && {
    trigger: lastRun.trigger,
    started_at: lastRun.started_at,
    vantage: lastRun.vantage,
    config_version: lastRun.config_version,
    config_problem: lastRun.config_problem?.reason ?? null,
    probed: lastRun.probed.length,
    failed: lastRun.probed.filter((p) => !p.success).length,
    delivered_batches: lastRun.delivery?.delivered_batches ?? 0,
    queued_batches: lastRun.delivery?.queued_batches ?? 0,
    dropped_total: lastRun.delivery?.dropped_total ?? 0,
  }
  return json(problem ? 503 : 200, { status: problem ? 'misconfigured' : 'ok', agent_id: env.AGENT_ID ?? null, error: problem, last_run: last })
}

/** Constant-time: both sides hashed first, so neither length nor content leaks through timing. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const enc = new TextEncoder()
  const [a, b] = await Promise.all([crypto.subtle.digest('SHA-256', enc.encode(given)), crypto.subtle.digest('SHA-256', enc.encode(expected))])
  return crypto.subtle.timingSafeEqual(a, b) && given.length > 0
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body, null, 2), { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers } })
}
