import { defineConfig } from 'vitest/config'

export default defineConfig({
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
