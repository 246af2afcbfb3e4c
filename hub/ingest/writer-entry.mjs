// Entry of the ingest writer thread (hub/ingest/writer.ts): a worker does not inherit the tsx
// loader bin/vantage.js registered, so it registers its own, as bin/vantage.js does.
import { register } from 'tsx/esm/api'

register()
await import('./writer.ts')
