// The compose deployments: both files parse, Spillway's flags exist, the VIP (HAProxy) checks
// Spillway's readiness on the port it listens on and fails over within -http.shutdownDelay,
// containers get the drain time they need, and every mounted file exists.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEPLOY, REPO, checkArgsAgainstHelp, flagValue, listenPort, loadYaml, parseDurationMs, rel } from './lib.js';

const COMPOSE_DIR = path.join(DEPLOY, 'compose');
const VMAGENT = [path.join(REPO, '.peers', 'bin', 'vmagent'), '/usr/bin/vmagent'].find((p) => existsSync(p));
const FILES = ['docker-compose.yml', 'docker-compose.single.yml'];

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  command?: string[] | string;
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, unknown>;
  stop_grace_period?: string;
  healthcheck?: unknown;
}
interface Compose {
  name?: string;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const isSpillway = (s: Service) => s.build !== undefined || /spillway/.test(s.image ?? '');
const asList = (c: Service['command']): string[] => (Array.isArray(c) ? c : typeof c === 'string' ? c.split(/\s+/).filter(Boolean) : []);

/** HAProxy's config, with the parts the tests need. */
function readHaproxy(file: string) {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  const sections: Array<{ kind: string; name: string; lines: string[] }> = [];
  for (const l of lines) {
    const m = /^(global|defaults|frontend|backend|listen|resolvers|peers)\b\s*(\S*)/.exec(l);
    if (m) sections.push({ kind: m[1]!, name: m[2]!, lines: [] });
    else sections.at(-1)?.lines.push(l);
  }
  return { text, sections };
}

for (const file of FILES) {
  const full = path.join(COMPOSE_DIR, file);
  t.test(file, async (t) => {
    const doc = loadYaml<Compose>(full);
    t.ok(doc.name, 'a project name, so both variants can run side by side');
    const services = doc.services;
    const names = Object.keys(services);
    const spillways = names.filter((n) => isSpillway(services[n]!));
    const lbName = names.find((n) => /haproxy/.test(services[n]!.image ?? ''));
    t.ok(spillways.length >= 2, `two Spillway replicas (found ${spillways.join(', ')})`);

    for (const n of spillways) {
      const s = services[n]!;
      t.test(`service ${n}`, async (t) => {
        const build = typeof s.build === 'string' ? { context: s.build } : s.build!;
        t.ok(build, 'built from this repository');
        t.equal(path.resolve(COMPOSE_DIR, build.context), REPO, 'build context is the repo root');
        t.ok(existsSync(path.join(REPO, build.dockerfile ?? 'Dockerfile')), 'its Dockerfile exists');
        const args = asList(s.command);
        t.ok(args.length > 0, 'flags given as command');
        t.same(checkArgsAgainstHelp(args), [], 'every flag is in spillway -help, with a valid value');
        const nodes = args.filter((a) => /^-(storageNode|remoteWrite\.url)=/.test(a));
        t.ok(nodes.length > 0, 'a storage node is named explicitly');
        const delay = parseDurationMs(flagValue(args, 'http.shutdownDelay'))!;
        const grace = parseDurationMs(flagValue(args, 'http.gracePeriod'))!;
        const stop = parseDurationMs(s.stop_grace_period ?? '10s')!;
        t.ok(stop >= delay + grace + 5_000, `stop_grace_period ${stop / 1000}s covers shutdownDelay ${delay / 1000}s + gracePeriod ${grace / 1000}s + 5s`);
        t.ok(
          (s.volumes ?? []).some((v) => /^[\w.-]+:\/data(:|$)/.test(v)),
          'the spool /data is a named volume (it survives the container)',
        );
        const own = (s.volumes ?? []).map((v) => v.split(':')[0]);
        for (const other of spillways.filter((o) => o !== n)) {
          const theirs = (services[other]!.volumes ?? []).map((v) => v.split(':')[0]);
          t.same(own.filter((v) => theirs.includes(v)), [], `no spool volume shared with ${other} (the spool is locked to one process)`);
        }
        const port = listenPort(flagValue(args, 'httpListenAddr'));
        for (const p of s.ports ?? []) t.equal(Number(String(p).split(':').at(-1)), port, `published port ${p} maps to Spillway's listen port`);
      });
    }

    t.test('the VIP: HAProxy active/backup on Spillway readiness', async (t) => {
      const lb = lbName;
      t.ok(lb, 'an HAProxy service');
      const mount = (services[lb!]!.volumes ?? []).find((v) => v.includes('haproxy.cfg'))!;
      t.ok(mount, 'haproxy.cfg mounted');
      const cfgFile = path.resolve(COMPOSE_DIR, mount.split(':')[0]!);
      const { text, sections } = readHaproxy(cfgFile);
      const backend = sections.find((s) => s.kind === 'backend' && s.lines.some((l) => /^server\s/.test(l)))!;
      t.ok(backend, 'a backend with servers');
      const body = backend.lines.join('\n');
      const check = /http-check send .*\buri\s+(\S+)/.exec(body) ?? /option httpchk(?:\s+GET)?\s+(\S+)/.exec(body);
      t.equal(check?.[1], '/-/ready', 'health check asks /-/ready');
      t.match(body, /http-check expect status 200/, 'and expects 200');
      const servers = backend.lines.filter((l) => /^server\s/.test(l)).map((l) => {
        const [, sname, addr, ...opts] = l.split(/\s+/);
        return { sname, host: addr!.split(':')[0]!, port: Number(addr!.split(':')[1]), opts };
      });
      t.same(servers.map((s) => s.host).sort(), [...spillways].sort(), 'one server per Spillway replica');
      t.equal(servers.filter((s) => s.opts.includes('backup')).length, servers.length - 1, 'one active, the others backup (as behind a VIP)');
      for (const s of servers) {
        t.ok(s.opts.includes('check'), `${s.sname} is health-checked`);
        const args = asList(services[s.host]?.command);
        t.equal(s.port, listenPort(flagValue(args, 'httpListenAddr')), `${s.sname} on the port Spillway listens on`);
      }
      const ds = body.match(/default-server\s+(.*)/)?.[1] ?? '';
      const inter = parseDurationMs((/\binter\s+(\S+)/.exec(ds)?.[1] ?? '2s').replace(/^(\d+)$/, '$1ms'))!;
      const fall = Number(/\bfall\s+(\d+)/.exec(ds)?.[1] ?? 3);
      for (const n of spillways) {
        const delay = parseDurationMs(flagValue(asList(services[n]!.command), 'http.shutdownDelay'))!;
        t.ok(delay >= inter * fall + 1_000, `${n}: -http.shutdownDelay ${delay}ms outlasts HAProxy's ${fall} failed checks ${inter}ms apart (+1s)`);
      }
      t.notMatch(text, /shutdown-sessions/, 'in-flight writes are not cut when a server is marked down (Spillway finishes them)');
      const binds = sections.filter((s) => s.kind === 'frontend').flatMap((s) => s.lines.filter((l) => l.startsWith('bind')).map((l) => Number(/:(\d+)/.exec(l)?.[1])));
      const vmagent = services.vmagent!;
      t.ok(vmagent, 'a vmagent (the client)');
      const toVip = asList(vmagent.command).filter((a) => a.startsWith('-remoteWrite.url=') && a.includes(`//${lb}:`));
      t.equal(toVip.length, 1, 'vmagent writes through the VIP');
      const vipPort = Number(/\/\/[^/:]+:(\d+)/.exec(toVip[0] ?? '')?.[1]);
      t.ok(binds.includes(vipPort), `the VIP listens on the port vmagent uses (${vipPort})`);
      const sw = asList(services[spillways[0]!]!.command);
      t.equal(vipPort, listenPort(flagValue(sw, 'httpListenAddr')), "and it is Spillway's (vminsert's) port: clients need no change");

      const hp = [path.join(REPO, '.peers', 'root', 'usr', 'sbin', 'haproxy'), '/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));
      if (hp) {
        const r = spawnSync(hp, ['-c', '-f', cfgFile], { encoding: 'utf8', timeout: 10_000 });
        t.equal(r.status, 0, `haproxy -c accepts ${rel(cfgFile)}\n${r.stdout}${r.stderr}`);
      } else t.comment('haproxy not installed: config syntax not checked by haproxy itself');
    });

    t.test('vmagent: scrapes both replicas, keeps Spillway metrics off the path they watch', async (t) => {
      const vmagent = services.vmagent!;
      const args = asList(vmagent.command);
      const mounts = new Map((vmagent.volumes ?? []).map((v) => [v.split(':')[1]!, path.resolve(COMPOSE_DIR, v.split(':')[0]!)] as const));
      const scrapeArg = args.find((a) => a.startsWith('-promscrape.config='))!.split('=')[1]!;
      const scrape = loadYaml<{ scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> }>(mounts.get(scrapeArg)!);
      const jobs = scrape.scrape_configs;
      const swJob = jobs.find((j) => j.static_configs.some((s) => s.targets.some((x) => spillways.includes(x.split(':')[0]!))));
      t.ok(swJob, 'a scrape job for Spillway');
      const targets = swJob!.static_configs.flatMap((s) => s.targets);
      for (const n of spillways) {
        const port = listenPort(flagValue(asList(services[n]!.command), 'httpListenAddr'));
        t.ok(targets.includes(`${n}:${port}`), `scrapes ${n}:${port} (the backup too: its spool matters)`);
      }
      const alerts = readFileSync(path.join(DEPLOY, 'alerts', 'spillway-alerts.yml'), 'utf8');
      for (const m of alerts.matchAll(/job="([^"]+)"/g)) t.equal(m[1], swJob!.job_name, 'the alert rules match the scrape job name');
      // -remoteWrite.url and -remoteWrite.urlRelabelConfig pair up in order.
      const urls = args.filter((a) => a.startsWith('-remoteWrite.url=')).map((a) => a.slice('-remoteWrite.url='.length));
      const relabels = args.filter((a) => a.startsWith('-remoteWrite.urlRelabelConfig=')).map((a) => a.slice('-remoteWrite.urlRelabelConfig='.length));
      t.equal(relabels.length, urls.length, 'one relabel config per remote-write URL');
      urls.forEach((u, i) => {
        const rules = loadYaml<unknown>(mounts.get(relabels[i]!)!) as Array<{ action: string; source_labels: string[]; regex: string }>;
        const onJob = rules.find((r) => r.source_labels?.includes('job') && r.regex === swJob!.job_name);
        const host = new URL(u).hostname;
        const viaSpillway = host === lbName || spillways.includes(host);
        t.ok(onJob, `${u}: filters on job="${swJob!.job_name}"`);
        t.equal(onJob?.action, viaSpillway ? 'drop' : 'keep', viaSpillway ? `${u} (through Spillway) drops Spillway's own metrics` : `${u} (around Spillway) carries Spillway's own metrics`);
      });
    });

    t.test('vmagent accepts its scrape and relabel configs (vmagent -dryRun)', { skip: VMAGENT ? false : 'vmagent not installed (npm run peers installs it)' }, async (t) => {
      const vmagent = services.vmagent!;
      const mounts = (vmagent.volumes ?? []).map((v) => ({ src: path.resolve(COMPOSE_DIR, v.split(':')[0]!), dst: v.split(':')[1]! }));
      const args = asList(vmagent.command)
        .filter((a) => !a.startsWith('-remoteWrite.tmpDataPath='))
        .map((a) => {
          const m = /^(-[\w.]+=)(.*)$/.exec(a);
          if (!m) return a;
          const file = mounts.find((x) => x.dst === m[2]);
          if (file) return m[1] + file.src;
          if (a.startsWith('-remoteWrite.url=')) return m[1] + 'http://127.0.0.1:1/api/v1/write';
          return a;
        });
      const r = spawnSync(VMAGENT!, [...args, '-dryRun'], { encoding: 'utf8', timeout: 20_000 });
      const out = r.status === 0 ? '' : `\n${args.join(' ')}\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`;
      t.equal(r.status, 0, `vmagent -dryRun accepts the scrape config and both relabel configs${out}`);
    });

    t.test('Grafana: datasource and the Spillway dashboard are provisioned', async (t) => {
      const g = services.grafana!;
      t.ok(g, 'a grafana service');
      const mounts = (g.volumes ?? []).map((v) => ({ src: path.resolve(COMPOSE_DIR, v.split(':')[0]!), dst: v.split(':')[1]! }));
      const dash = mounts.find((m) => m.src === path.join(DEPLOY, 'grafana', 'spillway.json'));
      t.ok(dash, 'deploy/grafana/spillway.json is mounted');
      const dsMount = mounts.find((m) => m.dst.startsWith('/etc/grafana/provisioning/datasources/'))!;
      const ds = loadYaml<{ datasources: Array<{ type: string; url: string }> }>(dsMount.src).datasources[0]!;
      t.equal(ds.type, 'prometheus', 'a Prometheus-type datasource (the dashboard picks it by type)');
      const host = new URL(ds.url).hostname;
      t.ok(services[host], `the datasource points at a service of this file (${host})`);
      const provMount = mounts.find((m) => m.dst.startsWith('/etc/grafana/provisioning/dashboards/'))!;
      const prov = loadYaml<{ providers: Array<{ options: { path: string } }> }>(provMount.src);
      t.ok(
        prov.providers.some((p) => dash && path.posix.dirname(dash.dst) === p.options.path),
        'the dashboard provider loads the folder the dashboard is mounted in',
      );
      // The cluster's query tenant is the tenant the clients write to.
      const tenantOut = /\/select\/(\d+(?::\d+)?)\//.exec(ds.url)?.[1];
      if (tenantOut) {
        const writes = asList(services.vmagent!.command).filter((a) => a.startsWith('-remoteWrite.url='));
        for (const w of writes) t.equal(/\/insert\/(\d+(?::\d+)?)\//.exec(w)?.[1], tenantOut, `${w} writes the tenant Grafana reads`);
      }
    });

    t.test('every mounted file exists; named volumes are declared', async (t) => {
      for (const [n, s] of Object.entries(services)) {
        for (const v of s.volumes ?? []) {
          const src = v.split(':')[0]!;
          if (src.startsWith('.') || src.startsWith('/')) t.ok(existsSync(path.resolve(COMPOSE_DIR, src)), `${n}: ${src} exists`);
          else t.ok(doc.volumes && src in doc.volumes, `${n}: volume ${src} declared`);
        }
        for (const d of Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})) t.ok(services[d], `${n} depends on ${d}, which exists`);
        if (!isSpillway(s)) t.match(s.image ?? '', /:[\w.-]+$/, `${n}: image pinned to a tag`);
      }
    });
  });
}
