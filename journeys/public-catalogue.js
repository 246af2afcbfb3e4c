// @ts-check
// A read-only catalogue check in plain JavaScript: several pages fetched side by side with
// http.batch, a 404 that is expected, custom metrics and thresholds with tag filters. The shape of
// https://test-api.k6.io's public endpoints.
//   vantage journey journeys/public-catalogue.js --env BASE_URL=https://test-api.k6.io
import { check, group, sleep } from 'k6'
import http from 'k6/http'
import { Counter, Rate } from 'k6/metrics'

const BASE = __ENV.BASE_URL || 'https://test-api.k6.io'
const items = new Counter('catalogue_items')
const namedItems = new Rate('catalogue_items_named')

export const options = {
  tags: { journey: 'public-catalogue' },
  thresholds: {
    http_req_failed: ['rate==0'],
    'http_req_duration{name:crocodile}': ['max<2000'],
    catalogue_items: ['count>0'],
    catalogue_items_named: ['rate==1'],
  },
}

export default function () {
  group('list', () => {
    const res = http.get(`${BASE}/public/crocodiles/`)
    /** @type {{ id: number, name: string }[]} */
    const list = /** @type {any} */ (res.json())
    check(res, { 'list is 200': (r) => r.status === 200, 'list is not empty': () => Array.isArray(list) && list.length > 0 })
    items.add(Array.isArray(list) ? list.length : 0)
  })

  sleep(0.1)

  group('details', () => {
    const responses = http.batch([1, 2, 3].map((id) => ['GET', http.url`${BASE}/public/crocodiles/${id}/`, null, { tags: { name: 'crocodile' } }]))
    for (const res of responses) {
      check(res, { 'details are 200': (r) => r.status === 200 })
      namedItems.add(typeof res.json('name') === 'string')
    }
  })

  group('missing item', () => {
    // A 404 is the right answer here: not a failed request.
    const res = http.get(`${BASE}/public/crocodiles/999999/`, { responseCallback: http.expectedStatuses(404) })
    check(res, { 'unknown id is 404': (r) => r.status === 404 })
  })
}
