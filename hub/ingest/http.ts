// POST /v1/results: body = the flattened JWS JSON of a signed ResultBatch.
// 200 → PushAck JSON; 4xx → { error, reason } (reason as in errors.ts); 503 → retry later.
import type { FastifyError, FastifyPluginAsync } from 'fastify'
import { StoreUnavailableError } from '../store/committer.ts'
import { IngestRejection } from './errors.ts'
import type { Ingest } from './ingest.ts'

export interface IngestRoutesOptions {
  ingest: Ingest
  /** Bodies above this are refused with 413 before they are read (ingest.max_body). */
  maxBodyBytes: number
}

/** RFC 7515's media type for the JWS JSON serialization is accepted beside plain JSON. */
const MEDIA_TYPES = ['application/json', 'application/jose+json']

export const ingestRoutes: FastifyPluginAsync<IngestRoutesOptions> = async (app, { ingest, maxBodyBytes }) => {
  // Only JWS JSON, kept as bytes: the envelope reads (and size-checks) it itself, once.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(MEDIA_TYPES, { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_req, body, done) => done(null, body))

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof IngestRejection) {
      return reply.code(err.httpStatus).send({ error: err.message, reason: err.reason })
    }
    if (err instanceof StoreUnavailableError) {
      request.log.error({ error: err.message }, 'batch not stored')
      return reply.code(503).header('retry-after', '5').send({ error: err.message, reason: 'unavailable' })
    }
    // Refusals fastify makes before the handler runs, said in the same shape.
    const refused = fastifyRefusal(err, maxBodyBytes, request.headers['content-type'])
    if (refused) {
      const rejection = ingest.reject(refused.reason, refused.message, 'http')
      return reply.code(refused.status).send({ error: rejection.message, reason: rejection.reason })
    }
    request.log.error({ err }, 'ingest failed')
    return reply.code(500).send({ error: 'internal error while ingesting the batch', reason: 'internal' })
  })

  app.post('/v1/results', { bodyLimit: maxBodyBytes }, async (request) => {
    if (!(request.body instanceof Uint8Array)) {
      throw ingest.reject('malformed', 'the body must be a flattened JWS (JSON), and it is empty', 'http')
    }
    return ingest.push(request.body, 'http')
  })
}

function fastifyRefusal(
  err: FastifyError,
  maxBodyBytes: number,
  contentType: string | undefined,
): { status: number; reason: 'oversize' | 'malformed'; message: string } | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, reason: 'oversize', message: `the body is over the ${maxBodyBytes}-byte limit (ingest.max_body)` }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        reason: 'malformed',
        message: `POST /v1/results takes a flattened JWS as application/json, not ${contentType ?? 'a body without Content-Type'}`,
      }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, reason: 'malformed', message: `the body could not be read: ${err.message}` }
    default:
      return null
  }
}
