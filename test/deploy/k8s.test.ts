// deploy/k8s, checked statically (no cluster here): the manifests parse; the hub is a
// StatefulSet with its PersistentVolumeClaim, Services whose selectors, ports and scrape
// annotations match it; one agent Deployment per vantage; Secrets are only referenced by name
// (and each is created by a command in deploy/k8s/README.md); mount paths, config paths and
// agent ids agree; the hub.yaml and agent.yaml of the ConfigMaps load with the real loaders;
// the probe and scrape paths answer on a running hub.
import { existsSync, readdirSync } from 'node:fs'
import { join, posix } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAgentConfig } from '../../agent/daemon/config.ts'
import { parseHubConfig } from '../../hub/config.ts'
import type { Hub } from '../../hub/server.ts'
import { makeKeys, startTestHub, tempDir, type TestDir } from '../hub/helpers.ts'
import { DEPLOY, mapPaths, readText, readYaml, readYamlDocs } from './helpers.ts'

interface Meta {
  name: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface VolumeMount {
  name: string
  mountPath: string
  readOnly?: boolean
}
interface Container {
  name: string
  image: string
  args: string[]
  ports?: { name: string; containerPort: number }[]
  readinessProbe?: { httpGet: { path: string; port: string } }
  livenessProbe?: { httpGet: { path: string; port: string } }
  startupProbe?: { httpGet: { path: string; port: string } }
  envFrom?: { secretRef?: { name: string; optional?: boolean } }[]
  volumeMounts: VolumeMount[]
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } }
}
interface Volume {
  name: string
  configMap?: { name: string; items?: { key: string; path: string }[] }
  secret?: { secretName: string; optional?: boolean }
  persistentVolumeClaim?: { claimName: string }
  emptyDir?: unknown
  projected?: { sources: { secret?: { name: string; items?: { key: string; path: string }[] }; configMap?: { name: string; items?: { key: string; path: string }[] } }[] }
}
interface PodSpec {
  securityContext: { runAsNonRoot: boolean; runAsUser: number; fsGroup: number; seccompProfile: { type: string } }
  containers: Container[]
  volumes: Volume[]
  automountServiceAccountToken: boolean
}
interface Doc {
  apiVersion: string
  kind: string
  metadata: Meta
  data?: Record<string, string>
  spec?: {
    selector?: Record<string, string> & { matchLabels?: Record<string, string> }
    ports?: { name: string; port: number; targetPort: string }[]
    serviceName?: string
    replicas?: number
    strategy?: { type: string }
    template?: { metadata: Meta; spec: PodSpec }
    volumeClaimTemplates?: { metadata: Meta }[]
  }
}

const MANIFESTS = () => readdirSync(join(DEPLOY, 'k8s')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()
const docs = (): (Doc & { file: string })[] => MANIFESTS().flatMap((f) => readYamlDocs<Doc>('k8s', f).map((d) => ({ ...d, file: f })))
const byKind = (kind: string) => docs().filter((d) => d.kind === kind)
const named = (kind: string, name: string) => docs().find((d) => d.kind === kind && d.metadata.name === name)
const readme = () => readText('k8s', 'README.md')

/** Names the README creates with `kubectl -n vantage create secret|configmap … NAME`. */
function createdByReadme(kind: 'secret' | 'configmap'): string[] {
  const re = kind === 'secret' ? /kubectl -n vantage create secret generic ([\w-]+)/g : /kubectl -n vantage create configmap ([\w-]+)/g
  return [...readme().matchAll(re)].map((m) => m[1])
}

/** Where in a container a file of a ConfigMap / Secret key ends up: mountPath/<item path or key>. */
function filesOf(pod: PodSpec, container: Container): Map<string, { kind: 'configmap' | 'secret'; name: string; key: string }> {
  const out = new Map<string, { kind: 'configmap' | 'secret'; name: string; key: string }>()
  for (const m of container.volumeMounts) {
    const v = pod.volumes.find((x) => x.name === m.name)
    if (!v) continue // a volumeClaimTemplate
    const add = (kind: 'configmap' | 'secret', name: string, items?: { key: string; path: string }[], keys: string[] = []) => {
      for (const it of items ?? keys.map((k) => ({ key: k, path: k }))) out.set(posix.join(m.mountPath, it.path), { kind, name, key: it.key })
    }
    // A ConfigMap made by the README: its keys are not known here, every file of the mount may be one.
    const cmKeys = (name: string) => (named('ConfigMap', name) ? Object.keys(named('ConfigMap', name)!.data ?? {}) : ['*'])
    if (v.configMap) add('configmap', v.configMap.name, v.configMap.items, cmKeys(v.configMap.name))
    for (const src of v.projected?.sources ?? []) {
      if (src.secret) add('secret', src.secret.name, src.secret.items)
      if (src.configMap) add('configmap', src.configMap.name, src.configMap.items, cmKeys(src.configMap.name))
    }
    if (v.secret) out.set(`${m.mountPath}/*`, { kind: 'secret', name: v.secret.secretName, key: '*' })
  }
  return out
}

let t: TestDir
let hub: Hub

beforeAll(async () => {
  t = tempDir('vantage-k8s-')
  await makeKeys(t, ['hub', 'eu-1', 'us-1'])
  t.write('secrets/operator.token', 'k8s-test-token\n')
  hub = await startTestHub(t, 'listen: { http: 127.0.0.1:0, grpc: 127.0.0.1:0 }\ndata: ./data\n')
})

afterAll(async () => {
  await hub?.close()
  t?.cleanup()
})

describe('deploy/k8s', () => {
  it('the manifests parse, live in the vantage namespace, and kustomization.yaml lists them all', () => {
    const all = docs()
    expect(all.length).toBeGreaterThanOrEqual(10)
    for (const d of all) {
      expect(d.apiVersion, `${d.file}: ${d.kind}`).toBeTruthy()
      if (d.kind !== 'Namespace') expect(d.metadata.namespace, `${d.file}: ${d.kind} ${d.metadata.name}`).toBe('vantage')
    }
    const k = readYaml<{ namespace: string; resources: string[]; images: { name: string }[] }>('k8s', 'kustomization.yaml')
    expect(k.namespace).toBe('vantage')
    expect([...k.resources].sort()).toEqual(MANIFESTS())
    const images = new Set(all.flatMap((d) => d.spec?.template?.spec.containers.map((c) => c.image.split(':')[0]) ?? []))
    expect(k.images.map((i) => i.name).sort()).toEqual([...images].sort())
    expect(existsSync(join(DEPLOY, 'k8s', 'README.md'))).toBe(true)
  })

  it('no Secret is in the manifests; every Secret and ConfigMap they name is defined here or created by the README', () => {
    expect(byKind('Secret')).toEqual([])
    const secrets = createdByReadme('secret')
    const configmaps = createdByReadme('configmap')
    for (const d of docs()) {
      const pod = d.spec?.template?.spec
      if (!pod) continue
      for (const v of pod.volumes) {
        const sources = [
          ...(v.secret ? [{ secret: { name: v.secret.secretName } }] : []),
          ...(v.configMap ? [{ configMap: v.configMap }] : []),
          ...(v.projected?.sources ?? []),
        ]
        for (const src of sources) {
          if (src.secret) expect(secrets, `${d.metadata.name}: secret ${src.secret.name}`).toContain(src.secret.name)
          if (src.configMap && !named('ConfigMap', src.configMap.name)) expect(configmaps, `${d.metadata.name}: configmap ${src.configMap.name}`).toContain(src.configMap.name)
        }
        if (v.persistentVolumeClaim) expect(named('PersistentVolumeClaim', v.persistentVolumeClaim.claimName), v.persistentVolumeClaim.claimName).toBeDefined()
      }
      for (const c of pod.containers) for (const e of c.envFrom ?? []) if (e.secretRef) expect(secrets).toContain(e.secretRef.name)
    }
  })

  it('the hub: a StatefulSet of one with its volume claim, probes and Services that match it', async () => {
    const sts = named('StatefulSet', 'vantage-hub')!
    const spec = sts.spec!
    expect(spec.replicas).toBe(1)
    expect(named('Service', spec.serviceName!)).toBeDefined()
    const pod = spec.template!.spec
    const [c] = pod.containers
    const claims = spec.volumeClaimTemplates!.map((v) => v.metadata.name)
    expect(claims).toEqual(['data'])
    const data = c.volumeMounts.find((m) => m.name === 'data')!
    expect(data.mountPath).toBe(c.args[c.args.indexOf('--data') + 1])
    expect(c.args.slice(0, 1)).toEqual(['hub'])
    expect(c.args[c.args.indexOf('--http-listen') + 1]).toBe('0.0.0.0:8080')
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'grpc', containerPort: 8081, protocol: 'TCP' },
    ])
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      expect(probe!.httpGet.port).toBe('http')
      const res = await fetch(`${hub.httpUrl}${probe!.httpGet.path}`)
      expect(res.status, probe!.httpGet.path).toBe(200)
    }
    expect(c.readinessProbe!.httpGet.path).toBe('/-/ready')

    // Services: selectors match the pod, target ports are the container's, and the scrape annotations.
    const podLabels = spec.template!.metadata.labels!
    expect(spec.selector!.matchLabels).toEqual(Object.fromEntries(Object.entries(podLabels).filter(([k]) => k in spec.selector!.matchLabels!)))
    const services = byKind('Service')
    const paths: Record<string, string | undefined> = {}
    for (const svc of services) {
      for (const [k, v] of Object.entries(svc.spec!.selector!)) expect(podLabels[k], `${svc.metadata.name}: ${k}`).toBe(v)
      for (const p of svc.spec!.ports!) expect(c.ports!.map((x) => x.name)).toContain(p.targetPort)
      const a = svc.metadata.annotations!
      expect(a['prometheus.io/scrape']).toBe('true')
      expect(c.ports!.find((x) => x.name === 'http')!.containerPort).toBe(Number(a['prometheus.io/port']))
      paths[a['prometheus.io/path']] = a['prometheus.io/honor-labels']
      const res = await fetch(`${hub.httpUrl}${a['prometheus.io/path']}`)
      expect(res.status, a['prometheus.io/path']).toBe(200)
    }
    expect(paths).toEqual({ '/metrics': undefined, '/pushgateway/metrics': 'true' })
  })

  it('every pod: non-root, read-only root file system, no capabilities, RuntimeDefault seccomp, a writable /tmp', () => {
    for (const d of docs()) {
      const pod = d.spec?.template?.spec
      if (!pod) continue
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } })
      expect(pod.automountServiceAccountToken).toBe(false)
      for (const c of pod.containers) {
        expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
        const tmp = c.volumeMounts.find((m) => m.mountPath === '/tmp')!
        expect(pod.volumes.find((v) => v.name === tmp.name)!.emptyDir).toBeDefined()
      }
    }
  })

  it('one agent Deployment per vantage: exactly one pod, never two during a rollout, its outbox on a claim', () => {
    const deployments = byKind('Deployment')
    const vantages = deployments.map((d) => d.metadata.labels!['vantage.dev/vantage'])
    expect(new Set(vantages).size).toBe(deployments.length)
    expect(vantages.sort()).toEqual(['eu-west', 'us-east'])
    for (const d of deployments) {
      expect(d.spec!.replicas).toBe(1)
      expect(d.spec!.strategy).toEqual({ type: 'Recreate' })
      const pod = d.spec!.template!.spec
      const data = pod.containers[0].volumeMounts.find((m) => m.mountPath === '/var/lib/vantage')!
      expect(pod.volumes.find((v) => v.name === data.name)!.persistentVolumeClaim).toBeDefined()
      for (const [k, v] of Object.entries(d.spec!.selector!.matchLabels!)) expect(d.spec!.template!.metadata.labels![k]).toBe(v)
    }
  })

  it('hub.yaml and each agent.yaml load; ids, vantages, key files and the hub’s address agree with the mounts', () => {
    const sts = named('StatefulSet', 'vantage-hub')!
    const hubPod = sts.spec!.template!.spec
    const hubFiles = filesOf(hubPod, hubPod.containers[0])
    const hubArgs = hubPod.containers[0].args
    const hubConfigPath = hubArgs[hubArgs.indexOf('--config') + 1]
    const hubSource = hubFiles.get(hubConfigPath)!
    expect(hubSource.kind).toBe('configmap')
    const hubText = named('ConfigMap', hubSource.name)!.data![hubSource.key]
    const mapping = { '/etc/vantage/keys': join(t.dir, 'keys'), '/etc/vantage/secrets': join(t.dir, 'secrets'), '/var/lib/vantage': join(t.dir, 'k8s-data') }
    const hubCfg = parseHubConfig(mapPaths(hubText, mapping), join(t.dir, 'hub.yaml'))

    // The hub's key and every agent's public key are files of its keys mount.
    const hubKeyPath = /hub_key: (\S+)/.exec(hubText)![1]
    expect(hubFiles.get(hubKeyPath)).toEqual({ kind: 'secret', name: 'vantage-hub-key', key: 'hub.jwk' })
    for (const id of hubCfg.agents.keys()) {
      const file = new RegExp(`id: ${id},.*public_key: (\\S+) }`).exec(hubText)![1]
      expect(posix.basename(file)).toBe(`${id}.pub.jwk`)
      expect(hubFiles.get(`${posix.dirname(file)}/*`), file).toEqual({ kind: 'configmap', name: 'vantage-agent-public-keys', key: '*' })
      expect(readme()).toContain(`--from-file=keys/${id}.pub.jwk`)
    }
    const operatorToken = /operator_token_file: (\S+)/.exec(hubText)![1]
    expect(hubFiles.get(`${posix.dirname(operatorToken)}/*`)).toEqual({ kind: 'secret', name: 'vantage-hub-tokens', key: '*' })

    const service = named('Service', 'vantage-hub')!
    const seen: string[] = []
    for (const d of byKind('Deployment')) {
      const pod = d.spec!.template!.spec
      const c = pod.containers[0]
      const files = filesOf(pod, c)
      const configPath = c.args[c.args.indexOf('--config') + 1]
      const source = files.get(configPath)!
      const text = named('ConfigMap', source.name)!.data![source.key]
      const a = parseAgentConfig(mapPaths(text, mapping), join(t.dir, `${d.metadata.name}.yaml`))
      seen.push(a.id)
      expect(hubCfg.agents.get(a.id)?.vantage, d.metadata.name).toBe(d.metadata.labels!['vantage.dev/vantage'])
      expect(files.get(/private_key: (\S+)/.exec(text)![1])).toEqual({ kind: 'secret', name: `vantage-agent-${a.id}-key`, key: `${a.id}.jwk` })
      expect(files.get(/public_key: (\S+) }/.exec(text)![1])).toEqual({ kind: 'configmap', name: 'vantage-hub-public-key', key: 'hub.pub.jwk' })
      const host = `${service.metadata.name}.${service.metadata.namespace}.svc`
      expect(a.hub.url).toBe(`http://${host}:${service.spec!.ports!.find((p) => p.name === 'http')!.port}`)
      expect(a.hub.grpc).toBe(`${host}:${service.spec!.ports!.find((p) => p.name === 'grpc')!.port}`)
    }
    expect(seen.sort()).toEqual([...hubCfg.agents.keys()].sort())
  })

  it('prometheus-scrape.yml: the hub job and the Pushgateway job (honor_labels), told apart by the annotation', () => {
    // Debian's promtool is built without Kubernetes service discovery: checked by structure here.
    const cfg = readYaml<{
      rule_files: string[]
      scrape_configs: { job_name: string; honor_labels?: boolean; kubernetes_sd_configs: { role: string; namespaces: { names: string[] } }[]; relabel_configs: { source_labels?: string[]; action: string; regex?: string; target_label?: string }[] }[]
    }>('k8s', 'prometheus-scrape.yml')
    expect(cfg.scrape_configs.map((j) => [j.job_name, j.honor_labels ?? false])).toEqual([
      ['vantage-hub', false],
      ['vantage-pushgateway', true],
    ])
    const honor = '__meta_kubernetes_service_annotation_prometheus_io_honor_labels'
    for (const job of cfg.scrape_configs) {
      expect(job.kubernetes_sd_configs).toEqual([{ role: 'endpoints', namespaces: { names: ['vantage'] } }])
      const rule = job.relabel_configs.find((r) => r.source_labels?.[0] === honor)!
      expect(rule.action).toBe(job.honor_labels ? 'keep' : 'drop')
      expect(job.relabel_configs.find((r) => r.target_label === '__metrics_path__')?.source_labels).toEqual(['__meta_kubernetes_service_annotation_prometheus_io_path'])
    }
    expect(existsSync(join(DEPLOY, 'k8s', posix.dirname(cfg.rule_files[0])))).toBe(true)
  })
})
