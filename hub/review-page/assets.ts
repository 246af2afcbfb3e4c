// The review page's only assets, inline (no build step, nothing fetched: it works offline), and
// their CSP hashes, so the page allows exactly this script and this style and nothing injected.
import { createHash } from 'node:crypto'

export const PAGE_CSS = `
:root{--fg:#1f2328;--muted:#59636e;--bg:#fff;--panel:#f6f8fa;--line:#d1d9e0;--ok:#1a7f37;--ok-bg:#dafbe1;--down:#cf222e;--down-bg:#ffebe9;--warn:#9a6700;--warn-bg:#fff8c5;--imp:#8250df;--imp-bg:#fbefff;--grey:#59636e;--grey-bg:#eff2f5;--link:#0969da;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--panel:#151b23;--line:#3d444d;--ok:#3fb950;--ok-bg:#12261e;--down:#f85149;--down-bg:#2d1417;--warn:#d29922;--warn-bg:#2b2111;--imp:#ab7df8;--imp-bg:#231a34;--grey:#9198a1;--grey-bg:#212830;--link:#4493f8}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.5rem;padding:.55rem 1.5rem;border-bottom:1px solid var(--line);background:var(--panel)}
header.top h1{font-size:1.05rem;margin:0}header.top h1 a{color:inherit}
.toolbar{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;font-size:.82rem;color:var(--muted)}
.toolbar input{width:15rem}
.logout{margin:0}
#status{margin:0 0 0 auto;font-size:.82rem;color:var(--muted);min-height:1em}#status.bad{color:var(--down);font-weight:600}
main{max-width:1280px;margin:0 auto;padding:.8rem 1.5rem 3rem}
h2{font-size:1rem;margin:1.5rem 0 .5rem}
.count{display:inline-block;min-width:1.6em;padding:0 .45em;border-radius:1em;background:var(--grey-bg);color:var(--muted);font-size:.78rem;text-align:center;font-weight:600}
.meta{color:var(--muted);margin:.2rem 0;font-size:.85rem}.filter{margin:.4rem 0}
.card{border:1px solid var(--line);border-left:4px solid var(--warn);border-radius:6px;padding:.6rem .9rem .4rem;margin:.6rem 0}
.card-outage{border-left-color:var(--down)}
.card h3{margin:0;font-size:1rem;display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}
.card p{margin:.25rem 0}
.target{color:var(--muted);font-size:.85rem}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--panel);border:1px solid var(--line);padding:0 .25em;border-radius:4px;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:.3rem 0}
th,td{text-align:left;vertical-align:top;padding:.4rem .6rem;border-bottom:1px solid var(--line)}
thead th{font-size:.72rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600;border-bottom-width:2px}
tbody th{font-weight:600}.evidence tbody th{white-space:nowrap}tbody tr:last-child>*{border-bottom:0}
tr.row-down>th{box-shadow:inset 3px 0 var(--down)}
.scroll{overflow-x:auto}
.sub{font-size:.78rem;color:var(--muted);font-weight:400}
.err{color:var(--down)}.warn{color:var(--warn)}.dim{color:var(--muted)}
td.error{max-width:30rem;overflow-wrap:anywhere}
.num{font-variant-numeric:tabular-nums}.nw{white-space:nowrap}
.state,.vote,.flag{display:inline-block;padding:0 .45em;border-radius:4px;font-size:.76rem;font-weight:600;line-height:1.6;white-space:nowrap}
.s-ok,.v-up{background:var(--ok-bg);color:var(--ok)}
.s-outage,.v-down{background:var(--down-bg);color:var(--down)}
.s-pending,.v-challenged,.flag.warn{background:var(--warn-bg);color:var(--warn)}
.v-impaired{background:var(--imp-bg);color:var(--imp)}
.s-unknown,.v-stale,.v-muted,.flag{background:var(--grey-bg);color:var(--grey)}
.votes,.plain{list-style:none;margin:0;padding:0}
.votes li{display:inline-block;margin:0 .7rem .15rem 0;white-space:nowrap}
.plain li{margin:.1rem 0}
.btn{font:inherit;font-size:.8rem;padding:.12rem .7rem;border:1px solid var(--line);border-radius:6px;background:var(--panel);color:var(--fg);cursor:pointer}
.btn:hover{border-color:var(--grey)}.btn[disabled]{opacity:.5;cursor:progress}
.btn.primary{background:var(--link);border-color:var(--link);color:#fff;padding:.35rem .9rem}
.btn.link{border:0;background:none;color:var(--link);padding:0}
:focus-visible{outline:2px solid var(--link);outline-offset:1px}
td.act{text-align:right;white-space:nowrap;width:1%}
.ack summary{cursor:pointer;color:var(--link);font-size:.82rem;margin:.3rem 0;width:max-content}
.ack form{display:flex;gap:.4rem;align-items:center;margin:.2rem 0 .5rem;flex-wrap:wrap}
.ack input{flex:1;min-width:14rem;max-width:36rem}
input,select{font:inherit;font-size:.82rem;padding:.15rem .4rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
.note{background:var(--panel);border-radius:6px;padding:.3rem .6rem}
.banner{border:1px solid var(--line);border-left:4px solid var(--warn);background:var(--warn-bg);border-radius:6px;padding:.45rem .9rem;margin:.7rem 0}
.banner h2{margin:0 0 .2rem;font-size:.92rem}.banner ul{margin:0;padding-left:1.2rem}
.empty{color:var(--muted);margin:.3rem 0}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}
.facts dt{color:var(--muted)}.facts dd{margin:0}
.check-title{font-size:1.25rem;display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}
.timeline{display:grid;gap:.35rem;max-width:980px}
.tl-row{display:grid;grid-template-columns:9rem 1fr;align-items:center;gap:.7rem}
.tl-name{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.tl{width:100%;height:18px;display:block}
.tl-axis{grid-template-columns:9rem 1fr auto;font-size:.72rem;color:var(--muted)}
.b-up{fill:var(--ok);background:var(--ok)}.b-down{fill:var(--down);background:var(--down)}.b-impaired{fill:var(--imp);background:var(--imp)}
.b-challenged{fill:var(--warn);background:var(--warn)}.b-none{fill:var(--grey-bg);background:var(--grey-bg)}
.legend{font-size:.78rem;color:var(--muted)}
.key{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin:0 .3em 0 .9em;vertical-align:-1px}.key:first-child{margin-left:0}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.login{max-width:26rem;margin:4rem auto;padding:0 1rem}.login form{display:grid;gap:.5rem}.login input{padding:.35rem .5rem}
`.trim()

/**
 * Refreshes <main> every few seconds from the same URL (the server renders; only HTML it
 * escaped is swapped in), keeping open <details>, typed text and focus; pauses while the tab is
 * hidden or a field is being typed in. Mute, unmute and acknowledge call the operator API.
 */
export const PAGE_JS = `
(() => {
  'use strict'
  const main = document.getElementById('main')
  const status = document.getElementById('status')
  if (!main) return
  const every = Number(main.dataset.refresh) || 5000
  const toggled = new Map()
  let timer = 0
  let generation = 0
  let stopped = false
  let failing = false
  const say = (text, bad) => { status.textContent = text; status.className = bad ? 'bad' : '' }
  document.addEventListener('toggle', (e) => { const d = e.target; if (d instanceof HTMLDetailsElement && d.id) toggled.set(d.id, d.open) }, true)
  const typing = () => { const a = document.activeElement; return !!a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) }
  const schedule = (ms) => { clearTimeout(timer); if (!stopped) timer = setTimeout(refresh, ms === undefined ? every : ms) }
  function swap(html) {
    const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : ''
    const values = new Map()
    main.querySelectorAll('input[id],textarea[id],select[id]').forEach((el) => values.set(el.id, el.value))
    const t = document.createElement('template')
    t.innerHTML = html
    t.content.querySelectorAll('details[id]').forEach((d) => { if (toggled.has(d.id)) d.open = toggled.get(d.id) })
    t.content.querySelectorAll('input[id],textarea[id],select[id]').forEach((el) => { if (values.has(el.id)) el.value = values.get(el.id) })
    main.replaceChildren(t.content)
    if (focused) { const el = document.getElementById(focused); if (el) el.focus() }
  }
  async function refresh() {
    clearTimeout(timer)
    if (stopped) return
    if (document.hidden) return schedule()
    if (typing()) return schedule(1000)
    const mine = ++generation
    try {
      const res = await fetch(location.href, { headers: { 'x-vantage-fragment': '1' }, cache: 'no-store', credentials: 'same-origin' })
      if (res.status === 401 || res.status === 403) { stopped = true; say('Signed out or refused (' + res.status + '): reload the page.', true); return }
      if (!res.ok) throw new Error('HTTP ' + res.status)
      const html = await res.text()
      if (mine !== generation) return
      if (!typing()) swap(html)
      if (failing) { failing = false; say('') }
      main.dataset.refreshed = String(generation)
    } catch (err) {
      if (mine === generation) { failing = true; say('Refresh failed (' + (err && err.message ? err.message : err) + '); retrying.', true) }
    } finally {
      if (mine === generation) schedule()
    }
  }
  async function call(path, body, what) {
    say(what + '…')
    try {
      const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' })
      const answer = await res.json().catch(() => ({}))
      if (!res.ok) { say(what + ' failed: ' + (answer.error || 'HTTP ' + res.status), true); return false }
      say(what + ': done.')
      return true
    } catch (err) {
      say(what + ' failed: ' + (err && err.message ? err.message : err), true)
      return false
    } finally {
      await refresh()
    }
  }
  document.addEventListener('click', async (e) => {
    const b = e.target instanceof Element ? e.target.closest('button[data-action]') : null
    if (!b || b.disabled) return
    const vantage = b.dataset.vantage || ''
    const path = 'api/v1/vantages/' + encodeURIComponent(vantage) + '/' + b.dataset.action
    b.disabled = true
    if (b.dataset.action === 'mute') {
      const reason = (document.getElementById('mute-reason').value || '').trim() || 'muted from the review page'
      const until = document.getElementById('mute-for').value
      await call(path, until ? { reason, until } : { reason }, 'Mute ' + vantage)
    } else {
      await call(path, {}, 'Unmute ' + vantage)
    }
    b.disabled = false
  })
  document.addEventListener('submit', async (e) => {
    const f = e.target
    if (!(f instanceof HTMLFormElement)) return
    if (f.id === 'mute-options') { e.preventDefault(); return }
    const check = f.dataset.ack
    if (check === undefined) return
    e.preventDefault()
    const input = f.querySelector('input[name=note]')
    const note = (input.value || '').trim()
    if (!note) { input.focus(); return }
    const ok = await call('api/v1/checks/' + encodeURIComponent(check) + '/ack', { note }, 'Acknowledge ' + check)
    if (ok) { const again = document.getElementById(input.id); if (again) again.value = '' }
  })
  document.addEventListener('visibilitychange', () => { if (!document.hidden && !stopped) schedule(0) })
  schedule()
})()
`.trim()

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

/** Only this script and this style run; requests go to the hub only; no framing, no plugins. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(PAGE_JS)}`,
  `style-src ${sha256(PAGE_CSS)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')
