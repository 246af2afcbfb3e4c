// Entry of the hub's threads (the ingest writer, hub/ingest/writer.ts; the history indexer,
// hub/store/indexer.ts): a worker does not inherit the tsx loader bin/vantage.js registered, so
// it registers its own, as bin/vantage.js does, then loads the module workerData names.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.module)
