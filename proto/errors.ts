// Every `error_code` a result can carry, declared once with its meaning.
// Code matches on these codes, never on message text. test/errors.test.ts checks that each
// code is documented in README.md. Portable: no `node:` imports.

export const ERROR_CODES = {
  // Generic
  TIMEOUT: 'the probe did not finish within its timeout',
  ABORTED: 'the probe was cancelled (shutdown)',
  INTERNAL: 'the probe itself failed unexpectedly (a bug: please report it)',
  INVALID_TARGET: 'the target could not be parsed for this check type',
  INVALID_CHECK: "the check's options are invalid (a bad status range or regular expression); nothing was sent",
  // Name resolution and connection
  DNS_RESOLVE_FAILED: "the target's host name could not be resolved",
  CONNECTION_REFUSED: 'the target refused the connection (nothing listens on the port)',
  CONNECTION_RESET: 'the target reset or closed the connection unexpectedly',
  HOST_UNREACHABLE: 'no route to the target (network or host unreachable)',
  SOURCE_ADDRESS_UNAVAILABLE: 'the configured source address is not a local address',
  // TLS (the names are OpenSSL's verify errors, as Node reports them)
  CERT_HAS_EXPIRED: 'a certificate in the chain has expired',
  CERT_NOT_YET_VALID: 'a certificate in the chain is not valid yet',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server presented a self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends in a self-signed certificate that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the chain's issuer is not a trusted CA (unknown issuer)",
  UNABLE_TO_GET_ISSUER_CERT: 'the issuer certificate could not be found',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the chain is incomplete: the server did not send the intermediate certificates',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate does not name the host that was asked for (hostname mismatch)',
  CERT_VERIFY_FAILED: 'the certificate failed verification for another reason (see tls.verify_error)',
  TLS_HANDSHAKE_FAILED: 'the TLS handshake failed (protocol or cipher mismatch, not a TLS server)',
  // HTTP
  HTTP_STATUS_UNEXPECTED: 'the HTTP status code is not one of the expected statuses',
  HTTP_BODY_MISMATCH: 'the response body failed a body_contains / body_matches assertion',
  HTTP_HEADER_MISMATCH: 'a response header failed its assertion',
  HTTP_TOO_MANY_REDIRECTS: 'more redirects than max_redirects',
  HTTP_PROTOCOL_ERROR: 'the server spoke invalid HTTP',
  // TCP
  TCP_EXPECT_MISMATCH: 'the data read did not match the expected regular expression',
  // SMTP
  SMTP_BANNER_REJECTED: 'the server greeted with a 4xx/5xx code instead of 220',
  SMTP_EHLO_REJECTED: 'the server rejected EHLO',
  SMTP_STARTTLS_UNAVAILABLE: 'STARTTLS was required but the server does not offer it or refused it',
  SMTP_PROTOCOL_ERROR: 'the server did not speak SMTP',
  // DNS
  DNS_RCODE_UNEXPECTED: 'the DNS server answered with an unexpected rcode (NXDOMAIN, SERVFAIL, REFUSED, ...)',
  DNS_ANSWER_MISMATCH: 'the answers did not contain the expected values',
  DNS_MALFORMED_RESPONSE: 'the DNS server sent a response that could not be decoded',
  // Journeys (k6 scripts)
  JOURNEY_SCRIPT_INVALID: 'the journey script could not be loaded: syntax error, unknown import or export, invalid options or thresholds',
  JOURNEY_SCRIPT_ERROR: 'the journey script threw an exception',
  JOURNEY_FAILED_BY_SCRIPT: 'the journey script stopped itself with fail() or exec.test.abort(), or marked itself failed',
  JOURNEY_CHECK_FAILED: 'a check() in the journey failed',
  JOURNEY_THRESHOLD_FAILED: "a threshold in the journey's options was not met",
  JOURNEY_MEMORY_LIMIT: 'the journey was stopped at its memory cap',
  JOURNEY_STEP_NOT_RUN: 'the journey stopped before this step (reported on steps only)',
  // Bot / WAF challenges (challenged: true, success: false): see agent/core/challenge.ts
  CHALLENGE_CLOUDFLARE: 'Cloudflare answered with a managed / JS challenge instead of the site',
  CHALLENGE_AWS_WAF: 'AWS WAF answered with a challenge or CAPTCHA',
  CHALLENGE_AKAMAI: 'Akamai Bot Manager answered with a challenge',
  CHALLENGE_DATADOME: 'DataDome answered with a challenge or CAPTCHA',
  CHALLENGE_IMPERVA: 'Imperva (Incapsula) answered with a challenge',
  CHALLENGE_SUCURI: 'Sucuri WAF answered with a challenge',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code)
}
