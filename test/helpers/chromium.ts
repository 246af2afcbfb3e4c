// Real headless Chromium (Debian's package) through playwright-core, for the page tests. Where
// /usr/bin/chromium is absent the suites skip, unless CI is set: there it is installed
// (.ci/run), so its absence is a failure.
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { ROOT } from './processes.ts'

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium'
export const chromiumPresent = existsSync(CHROMIUM_BIN)
/** Skip the browser tests: no Chromium here, and not in CI. */
export const skipChromium = !chromiumPresent && !process.env.CI
export const chromiumSkipReason = `Chromium not found at ${CHROMIUM_BIN} (apt-get install chromium, or set CHROMIUM_BIN)`

/** Screenshots and other test outputs (gitignored). */
export const ARTIFACTS = join(ROOT, 'test', 'artifacts')

export function artifact(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true })
  return join(ARTIFACTS, name)
}

export async function launchChromium(): Promise<Browser> {
  if (!chromiumPresent) throw new Error(chromiumSkipReason)
  return chromium.launch({
    executablePath: CHROMIUM_BIN,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

/** Console errors and failed requests of a page (a CSP violation shows up here), to assert none. */
export function pageProblems(page: Page): string[] {
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.type()} ${d.message()}`)
    void d.dismiss()
  })
  return problems
}
