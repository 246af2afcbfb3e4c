// The Pushgateway's own metric families (v1.5.1 on Linux, as Debian ships it). They share the
// real Pushgateway's /metrics with pushed families, so it rejects pushes that clash with them
// (another type, a _count/_sum/_bucket collision, another HELP for the three it only creates
// after its first request) and rewrites the HELP of those present at start-up. The hub's
// /pushgateway/metrics does not serve these families, but refuses and rewrites the same pushes,
// so a push behaves the same against either.
import { MetricType } from './model.ts'

const { COUNTER, GAUGE, SUMMARY } = MetricType

export interface SelfFamily {
  type: number
  help: string
  /** Present when the Pushgateway starts, so its HELP replaces a pushed one (predefined help). */
  atStartup: boolean
}

const TABLE: [string, number, string, boolean][] = [
  ['go_gc_duration_seconds', SUMMARY, "A summary of the pause duration of garbage collection cycles.", true],
  ['go_goroutines', GAUGE, "Number of goroutines that currently exist.", true],
  ['go_info', GAUGE, "Information about the Go environment.", true],
  ['go_memstats_alloc_bytes', GAUGE, "Number of bytes allocated and still in use.", true],
  ['go_memstats_alloc_bytes_total', COUNTER, "Total number of bytes allocated, even if freed.", true],
  ['go_memstats_buck_hash_sys_bytes', GAUGE, "Number of bytes used by the profiling bucket hash table.", true],
  ['go_memstats_frees_total', COUNTER, "Total number of frees.", true],
  ['go_memstats_gc_sys_bytes', GAUGE, "Number of bytes used for garbage collection system metadata.", true],
  ['go_memstats_heap_alloc_bytes', GAUGE, "Number of heap bytes allocated and still in use.", true],
  ['go_memstats_heap_idle_bytes', GAUGE, "Number of heap bytes waiting to be used.", true],
  ['go_memstats_heap_inuse_bytes', GAUGE, "Number of heap bytes that are in use.", true],
  ['go_memstats_heap_objects', GAUGE, "Number of allocated objects.", true],
  ['go_memstats_heap_released_bytes', GAUGE, "Number of heap bytes released to OS.", true],
  ['go_memstats_heap_sys_bytes', GAUGE, "Number of heap bytes obtained from system.", true],
  ['go_memstats_last_gc_time_seconds', GAUGE, "Number of seconds since 1970 of last garbage collection.", true],
  ['go_memstats_lookups_total', COUNTER, "Total number of pointer lookups.", true],
  ['go_memstats_mallocs_total', COUNTER, "Total number of mallocs.", true],
  ['go_memstats_mcache_inuse_bytes', GAUGE, "Number of bytes in use by mcache structures.", true],
  ['go_memstats_mcache_sys_bytes', GAUGE, "Number of bytes used for mcache structures obtained from system.", true],
  ['go_memstats_mspan_inuse_bytes', GAUGE, "Number of bytes in use by mspan structures.", true],
  ['go_memstats_mspan_sys_bytes', GAUGE, "Number of bytes used for mspan structures obtained from system.", true],
  ['go_memstats_next_gc_bytes', GAUGE, "Number of heap bytes when next garbage collection will take place.", true],
  ['go_memstats_other_sys_bytes', GAUGE, "Number of bytes used for other system allocations.", true],
  ['go_memstats_stack_inuse_bytes', GAUGE, "Number of bytes in use by the stack allocator.", true],
  ['go_memstats_stack_sys_bytes', GAUGE, "Number of bytes obtained from system for stack allocator.", true],
  ['go_memstats_sys_bytes', GAUGE, "Number of bytes obtained from system.", true],
  ['go_threads', GAUGE, "Number of OS threads created.", true],
  ['process_cpu_seconds_total', COUNTER, "Total user and system CPU time spent in seconds.", true],
  ['process_max_fds', GAUGE, "Maximum number of open file descriptors.", true],
  ['process_open_fds', GAUGE, "Number of open file descriptors.", true],
  ['process_resident_memory_bytes', GAUGE, "Resident memory size in bytes.", true],
  ['process_start_time_seconds', GAUGE, "Start time of the process since unix epoch in seconds.", true],
  ['process_virtual_memory_bytes', GAUGE, "Virtual memory size in bytes.", true],
  ['process_virtual_memory_max_bytes', GAUGE, "Maximum amount of virtual memory available in bytes.", true],
  ['pushgateway_build_info', GAUGE, "A metric with a constant '1' value labeled by version, revision, branch, goversion from which pushgateway was built, and the goos and goarch for the build.", true],
  ['pushgateway_http_push_duration_seconds', SUMMARY, "HTTP request duration for pushes to the Pushgateway.", false],
  ['pushgateway_http_push_size_bytes', SUMMARY, "HTTP request size for pushes to the Pushgateway.", false],
  ['pushgateway_http_requests_total', COUNTER, "Total HTTP requests processed by the Pushgateway, excluding scrapes.", false],
]

export const SELF_FAMILIES: ReadonlyMap<string, SelfFamily> = new Map(
  TABLE.map(([name, type, help, atStartup]) => [name, { type, help, atStartup }]),
)
