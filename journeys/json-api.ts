// A JSON API flow with a bearer token: log in, create a resource, read it back, delete it. The
// shape of https://test-api.k6.io (/auth/token/login/, /my/crocodiles/).
//   vantage journey journeys/json-api.ts --env BASE_URL=https://test-api.k6.io --env API_USER=... --env API_PASSWORD=...
import { check, fail, group } from 'k6'
import http from 'k6/http'
import { Trend } from 'k6/metrics'

const BASE = __ENV.BASE_URL || 'https://test-api.k6.io'
const createTime = new Trend('crocodile_create_ms', true)

export const options = {
  thresholds: {
    checks: ['rate==1'],
    crocodile_create_ms: ['p(95)<2000'],
  },
}

interface Crocodile {
  id: number
  name: string
  sex: string
  date_of_birth: string
}

export default function (): void {
  const token = group('log in', () => {
    const res = http.post(`${BASE}/auth/token/login/`, JSON.stringify({ username: __ENV.API_USER, password: __ENV.API_PASSWORD }), {
      headers: { 'Content-Type': 'application/json' },
    })
    const ok = check(res, {
      'login is 200': (r) => r.status === 200,
      'got an access token': (r) => typeof r.json('access') === 'string',
    })
    if (!ok) fail('login failed: no token')
    return String(res.json('access'))
  })
  const auth = { headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } }

  const id = group('create', () => {
    const res = http.post(`${BASE}/my/crocodiles/`, JSON.stringify({ name: 'Vantage', sex: 'M', date_of_birth: '2020-01-01' }), auth)
    createTime.add(res.timings.duration)
    const croc = res.json() as unknown as Crocodile
    check(res, {
      'created (201)': (r) => r.status === 201,
      'name echoed back': () => croc.name === 'Vantage',
    })
    return croc.id
  })

  group('read back', () => {
    const res = http.get(`${BASE}/my/crocodiles/${id}/`, auth)
    check(res, {
      'read is 200': (r) => r.status === 200,
      'same crocodile': (r) => r.json('id') === id && r.json('date_of_birth') === '2020-01-01',
    })
  })

  group('delete', () => {
    const res = http.del(`${BASE}/my/crocodiles/${id}/`, null, auth)
    check(res, { 'deleted (204)': (r) => r.status === 204 })
  })
}
