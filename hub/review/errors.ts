// Every error the operator API answers with, declared once with its status. Clients match on
// `code`; `error` is the sentence for people. Body: { "error": "...", "code": "..." }.

export const API_ERRORS = {
  unauthorized: { status: 401, meaning: 'the operator API needs `Authorization: Bearer <token>` with the operator token (operator_token_file)' },
  forbidden: { status: 403, meaning: 'no operator token is configured, so the operator API answers loopback clients only (addressed by a loopback name)' },
  cross_site: { status: 403, meaning: "a browser sent a change (POST) for another site's page: changes come from the hub's own pages or with a bearer token" },
  check_not_found: { status: 404, meaning: 'no check of this name is configured' },
  vantage_not_found: { status: 404, meaning: 'no vantage of this name is configured' },
  incident_not_found: { status: 404, meaning: 'no incident has this id' },
  not_found: { status: 404, meaning: 'no such operator API route' },
  bad_request: { status: 400, meaning: 'a query parameter or body field is missing or invalid' },
  body_too_large: { status: 413, meaning: 'the request body is over the operator API limit' },
  unsupported_media_type: { status: 415, meaning: 'the body must be JSON (Content-Type: application/json)' },
  internal: { status: 500, meaning: 'the hub failed to answer (a bug: see its log)' },
} as const

export type ApiErrorCode = keyof typeof API_ERRORS

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message)
  }

  get status(): number {
    return API_ERRORS[this.code].status
  }
}
