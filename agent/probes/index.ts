// Lookup-table dispatch from check type to probe module (as blackbox_exporter's `Probers`).
import type { CheckType } from '../../proto/result.ts'
import type { Probe } from '../core/probe.ts'

export const probes: Partial<Record<CheckType, Probe>> = {}
