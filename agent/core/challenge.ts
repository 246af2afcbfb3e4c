// Bot/WAF challenge classification (DESIGN.md, "Challenge awareness"): decides whether a response
// is a vendor's challenge or block page instead of the site's answer. Data-driven: one signature
// per vendor, each a name and a test over status, headers and the start of the body.
// Portable: no `node:` imports (the edge worker runs it too).
//
// Markers follow what the vendors send, as documented by them (Cloudflare's `cf-mitigated`,
// AWS WAF's `x-amzn-waf-action`) or as captured pages show them. A CDN's presence alone
// (`server: cloudflare`, `x-iinfo`, `x-datadome: protected`) never counts: those headers ride on
// every response the vendor serves, error pages of the origin included.
import type { ErrorCode } from '../../proto/errors.ts'

export type ChallengeName = 'CLOUDFLARE' | 'AWS_WAF' | 'AKAMAI' | 'DATADOME' | 'IMPERVA' | 'SUCURI'

export interface ChallengeResponse {
  status: number
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>
  /** The start of the body, decoded (the classifier reads at most BODY_LIMIT characters). */
  body: string
}

export interface ChallengeSignature {
  name: ChallengeName
  /** The vendor as an operator knows it, for error messages. */
  vendor: string
  test(resp: ChallengeResponse): boolean
}

export interface ChallengeMatch {
  name: ChallengeName
  vendor: string
  error_code: ErrorCode
  error: string
}

/** How much of the body the classifier looks at: challenge pages are small. */
export const BODY_LIMIT = 64 * 1024

const header = (r: ChallengeResponse, name: string): string => r.headers[name] ?? ''

// Cloudflare's interstitial (managed, JS and interactive challenges, "Just a moment...") and its
// WAF block page (error 1020, "Attention Required! | Cloudflare"). Not `cdn-cgi/challenge-platform`
// alone: ordinary Cloudflare pages load `/cdn-cgi/challenge-platform/scripts/jsd/main.js`.
const CLOUDFLARE_PAGE =
  /window\._cf_chl_opt|\/cdn-cgi\/challenge-platform\/h\/|<title>Just a moment\.\.\.<\/title>|id="challenge-form"|cf-browser-verification|["' ]cf-chl-|__cf_chl_[a-z_]*tk__|<title>Attention Required! \| Cloudflare<\/title>/i

// Akamai writes its reference host HTML-escaped ("errors&#46;edgesuite&#46;net") to HTTP clients.
const AKAMAI_REFERENCE = /errors(?:\.|&#46;)edgesuite(?:\.|&#46;)net/i

export const CHALLENGE_SIGNATURES: readonly ChallengeSignature[] = [
  {
    name: 'CLOUDFLARE',
    vendor: 'Cloudflare',
    test: (r) =>
      // Documented: every challenge page carries it, whatever the status.
      header(r, 'cf-mitigated').toLowerCase() === 'challenge' ||
      // A Cloudflare-served 403/429/503 is only a challenge with the challenge page in it;
      // the origin's own 503 through Cloudflare is an outage.
      ([403, 429, 503].includes(r.status) && /^cloudflare/i.test(header(r, 'server')) && CLOUDFLARE_PAGE.test(r.body)),
  },
  {
    name: 'AWS_WAF',
    vendor: 'AWS WAF',
    test: (r) =>
      // Documented: Challenge answers 202 with `challenge`, CAPTCHA 405 with `captcha`.
      /^(challenge|captcha)$/i.test(header(r, 'x-amzn-waf-action').trim()) ||
      // The same interstitial when a proxy dropped the header: the challenge.js loader.
      ((r.status === 202 || r.status === 405) && /window\.gokuProps/.test(r.body) && /\.awswaf\.com\//.test(r.body)),
  },
  {
    name: 'AKAMAI',
    vendor: 'Akamai',
    test: (r) =>
      // The edge's "Access Denied" page with its reference number (WAF / Bot Manager deny).
      (r.status === 403 && /<title>Access Denied<\/title>/i.test(r.body) && AKAMAI_REFERENCE.test(r.body)) ||
      // Bot Manager interstitial: a meta refresh to `?bm-verify=…` plus a call to /_sec/verify.
      (/[?&]bm-verify=/.test(r.body) && /\/_sec\/verify/.test(r.body)) ||
      // Bot Manager crypto challenge: the page, or its JSON form (428) for API calls.
      /sec-if-cpt-container|\/_sec\/cp_challenge\//.test(r.body) ||
      (r.status === 428 && /"sec-cp-challenge"\s*:\s*"true"/.test(r.body)),
  },
  {
    name: 'DATADOME',
    vendor: 'DataDome',
    test: (r) =>
      r.status >= 400 &&
      /captcha-delivery\.com/.test(r.body) &&
      // `x-datadome` and the `datadome` cookie ride on every protected response; with the
      // captcha host in a 4xx body (the `var dd={…}` bootstrap or its JSON form) it is a challenge.
      ('x-datadome' in r.headers || 'x-dd-b' in r.headers || /(?:^|[\s,;])datadome=/.test(header(r, 'set-cookie')) || /var dd\s*=\s*\{/.test(r.body)),
  },
  {
    name: 'IMPERVA',
    vendor: 'Imperva (Incapsula)',
    test: (r) =>
      // Often served with status 200. Not `_Incapsula_Resource` alone: normal pages load
      // `/_Incapsula_Resource?SWJIYLWA=…`; the challenge frames it, or names the incident.
      /Incapsula incident ID/i.test(r.body) ||
      /<iframe[^>]+_Incapsula_Resource/i.test(r.body) ||
      /_Incapsula_Resource\?SWUDNSAI=/.test(r.body) ||
      // Imperva Advanced Bot Protection's interstitial.
      /<title>Pardon Our Interruption<\/title>/i.test(r.body),
  },
  {
    name: 'SUCURI',
    vendor: 'Sucuri',
    test: (r) =>
      // The firewall's block page ("Sucuri WebSite Firewall - Access Denied").
      (r.status === 403 &&
        ('x-sucuri-block' in r.headers || /Sucuri WebSite Firewall.{0,20}Access Denied|Access Denied.{0,6}Sucuri Website Firewall/i.test(r.body))) ||
      // The JS challenge that sets the `sucuri_cloudproxy_uuid_…` cookie and reloads.
      /sucuri_cloudproxy_js\s*=/.test(r.body),
  },
]

/** The first signature that matches, or null when the response is the site's own. */
export function classifyChallenge(
  resp: ChallengeResponse,
  signatures: readonly ChallengeSignature[] = CHALLENGE_SIGNATURES,
): ChallengeMatch | null {
  const view = resp.body.length > BODY_LIMIT ? { ...resp, body: resp.body.slice(0, BODY_LIMIT) } : resp
  for (const sig of signatures) {
    if (sig.test(view)) {
      return {
        name: sig.name,
        vendor: sig.vendor,
        error_code: `CHALLENGE_${sig.name}`,
        error: `${sig.vendor} answered with a bot/WAF challenge (status ${resp.status}) instead of the site`,
      }
    }
  }
  return null
}
