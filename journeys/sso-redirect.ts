// A redirect/SSO-like flow: the application sends the browser to an identity provider, the user
// signs in there, and the provider redirects back with a code that the application trades for a
// session. Checks that the state survives the round trip and where the redirects end.
//   vantage journey journeys/sso-redirect.ts --env APP_URL=https://app.example --env IDP_URL=https://id.example
import { check, fail, group } from 'k6'
import http from 'k6/http'

const APP = __ENV.APP_URL || 'https://app.example'
const IDP = __ENV.IDP_URL || 'https://id.example'

export default function (): void {
  const login = group('start sign-in', () => {
    // Stop at the first redirect to see where the application sends us.
    const res = http.get(`${APP}/login`, { redirects: 0 })
    check(res, {
      'redirects to the identity provider': (r) => r.status === 302 && String(r.headers['Location']).startsWith(`${IDP}/authorize`),
      'state cookie set': (r) => r.cookies['sso_state'] !== undefined,
    })
    return http.get(res.headers['Location'])
  })

  group('sign in at the provider', () => {
    if (!login.html('form').size()) fail('the identity provider showed no sign-in form')
    const res = login.submitForm({ fields: { username: __ENV.SSO_USER || 'alice', password: __ENV.SSO_PASSWORD || 'secret' } })
    check(res, {
      'back in the application': (r) => r.url === `${APP}/home`,
      'signed in': (r) => r.status === 200 && String(r.body).includes('Hello, '),
      'application session cookie in the jar': () => http.cookieJar().cookiesForURL(`${APP}/`)['session'] !== undefined,
    })
  })
}
