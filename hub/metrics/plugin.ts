// GET /metrics (the hub's own metrics and the quorum view) and the health endpoints.
import type { FastifyPluginAsync } from 'fastify'
import type { HubMetrics } from './metrics.ts'

export interface MetricsRoutesOptions {
  metrics: HubMetrics
  /** True once the store and both listeners are up, false again while closing. */
  ready: () => boolean
}

export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, { metrics, ready }) => {
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await metrics.render()
    return reply.type(contentType).send(body)
  })
  // As Prometheus and the Pushgateway answer them: plain text, 200 or 503.
  app.get('/-/healthy', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('Vantage hub is Healthy.\n'))
  app.get('/-/ready', async (_request, reply) => {
    if (ready()) return reply.type('text/plain; charset=utf-8').send('Vantage hub is Ready.\n')
    return reply.code(503).type('text/plain; charset=utf-8').send('Vantage hub is not ready.\n')
  })
}
