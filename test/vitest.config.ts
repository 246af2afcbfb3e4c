import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Lives in test/ because DESIGN.md fixes the top level of the repository; paths are from the root.

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real servers (blackbox_exporter, SMTP, DNS); two cores: keep files parallel but bounded.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
