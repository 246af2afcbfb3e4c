// Log in through an HTML form protected by a CSRF token, then log out: the shape of
// https://test.k6.io (my_messages.php / login.php). The token is read with parseHTML, the session
// lives in the iteration's cookie jar.
//   vantage journey journeys/login-csrf.ts --env BASE_URL=https://test.k6.io
import { check, fail, group } from 'k6'
import { parseHTML } from 'k6/html'
import http from 'k6/http'

const BASE = __ENV.BASE_URL || 'https://test.k6.io'
const USER = __ENV.LOGIN_USER || 'admin'
const PASSWORD = __ENV.LOGIN_PASSWORD || '123'

export const options = {
  // Ignored by the agent (one iteration per round); kept so the file also runs under k6.
  vus: 1,
  iterations: 1,
  thresholds: {
    checks: ['rate==1'],
    'http_req_duration{group:::log in}': ['p(95)<3000'],
  },
}

export default function (): void {
  let csrf = ''
  group('open login page', () => {
    const res = http.get(`${BASE}/my_messages.php`)
    check(res, {
      'login page is 200': (r) => r.status === 200,
      'has a login form': (r) => r.html('form').size() > 0,
    })
    csrf = parseHTML(String(res.body)).find('input[name="csrftoken"]').first().attr('value') ?? ''
    if (!csrf) fail('no CSRF token on the login page')
  })

  group('log in', () => {
    // An object body is sent form-encoded; the redirect after login is followed.
    const res = http.post(`${BASE}/login.php`, { login: USER, password: PASSWORD, redirect: 'yes', csrftoken: csrf })
    check(res, {
      'welcome message': (r) => String(r.body).includes(`Welcome, ${USER}!`),
      'session cookie in the jar': () => Object.keys(http.cookieJar().cookiesForURL(`${BASE}/`)).length > 0,
    })
  })

  group('log out', () => {
    const page = http.get(`${BASE}/my_messages.php`)
    const res = page.submitForm({ formSelector: 'form[name="logout"]' })
    check(res, { 'back on the login form': (r) => r.status === 200 && r.html('input[name="csrftoken"]').size() > 0 })
  })
}
