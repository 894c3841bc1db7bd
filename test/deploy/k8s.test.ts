// The Kubernetes manifests, base and every overlay, rendered as kustomize would (with
// `kubectl kustomize` when it is installed, and always with a small built-in renderer that
// understands what these kustomizations use), then checked against Spillway's contracts.
import t, { type Test } from 'tap';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DEPLOY, checkArgsAgainstHelp, flagValue, listenPort, loadYaml, loadYamlAll, parseArgs, parseDurationMs, rel } from './lib.js';
import { KUBECTL, renderBuiltin, renderKubectl, type Obj } from './kustomize.js';

const K8S = path.join(DEPLOY, 'k8s');
const BASE = path.join(K8S, 'base');
const OVERLAYS = existsSync(path.join(K8S, 'overlays'))
  ? readdirSync(path.join(K8S, 'overlays'))
      .map((d) => path.join(K8S, 'overlays', d))
      .filter((d) => statSync(d).isDirectory())
  : [];
const matches = (selector: Obj | undefined, labels: Obj | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function contracts(t: Test, objs: Obj[], where: string) {
  const of = (kind: string) => objs.filter((o) => o.kind === kind);
  const sts = of('StatefulSet').find((s) => s.metadata.name === 'spillway')!;
  t.ok(sts, `${where}: a StatefulSet "spillway"`);
  if (!sts) return;
  const pod = sts.spec.template.spec as Obj;
  const podLabels = sts.spec.template.metadata.labels as Obj;
  const c = (pod.containers as Obj[]).find((x) => x.name === 'spillway')!;
  t.ok(c, 'a container "spillway"');
  const args = (c.args ?? []) as string[];
  t.notOk(c.command, 'no command override: the image ENTRYPOINT (node bin/spillway.js -spool.path=/data) runs');
  t.same(checkArgsAgainstHelp(args), [], 'every arg is a flag in spillway -help, with a valid value');
  t.ok(args.some((a) => /^-(storageNode|remoteWrite\.url)=/.test(a)), 'a storage node is named explicitly');
  t.notOk(parseArgs(args).some((a) => a.name === 'spool.path' && a.value !== '/data'), 'the spool stays on /data');

  t.test('spool on a PVC whose StorageClass retains the volume', async (t) => {
    t.equal(sts.spec.template.spec.containers.find((x: Obj) => x.name === 'spillway').volumeMounts.find((m: Obj) => m.mountPath === '/data')?.name, sts.spec.volumeClaimTemplates?.[0]?.metadata?.name, '/data is the volumeClaimTemplate');
    const vct = (sts.spec.volumeClaimTemplates ?? []) as Obj[];
    t.equal(vct.length, 1, 'one volumeClaimTemplate');
    const scName = vct[0]?.spec?.storageClassName;
    t.ok(scName, 'it names a StorageClass');
    const sc = of('StorageClass').find((s) => s.metadata.name === scName);
    t.ok(sc, `StorageClass ${scName} is part of the manifests`);
    t.equal(sc?.reclaimPolicy, 'Retain', 'reclaimPolicy: Retain');
    t.same(vct[0]?.spec?.accessModes, ['ReadWriteOnce'], 'ReadWriteOnce: one writer per spool');
    t.ok(vct[0]?.spec?.resources?.requests?.storage, 'a size is requested');
    t.equal(sts.spec.persistentVolumeClaimRetentionPolicy?.whenScaled, 'Retain', 'scaling down keeps the PVC');
    t.equal(sts.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted, 'Retain', 'deleting the StatefulSet keeps the PVC');
  });

  t.test('drain: the pod gets shutdownDelay + gracePeriod + margin', async (t) => {
    const delay = parseDurationMs(flagValue(args, 'http.shutdownDelay'))!;
    const grace = parseDurationMs(flagValue(args, 'http.gracePeriod'))!;
    const tgp = Number(pod.terminationGracePeriodSeconds ?? 30) * 1000;
    t.ok(tgp >= delay + grace + 5_000, `terminationGracePeriodSeconds ${tgp / 1000}s >= shutdownDelay ${delay / 1000}s + gracePeriod ${grace / 1000}s + 5s`);
    const rp = c.readinessProbe as Obj;
    const notReadyAfter = (rp.periodSeconds ?? 10) * (rp.failureThreshold ?? 3) * 1000;
    t.ok(delay >= notReadyAfter, `shutdownDelay ${delay / 1000}s >= the readiness probe's time to fail (${notReadyAfter / 1000}s)`);
    t.notOk(c.lifecycle?.preStop, 'no preStop sleep: Spillway delays its own shutdown');
  });

  t.test('probes and ports', async (t) => {
    const port = listenPort(flagValue(args, 'httpListenAddr'));
    const ports = (c.ports ?? []) as Obj[];
    t.ok(ports.some((p) => p.containerPort === port), `containerPort ${port} is the port of -httpListenAddr`);
    const resolve = (p: unknown) => (typeof p === 'number' ? p : ports.find((x) => x.name === p)?.containerPort);
    const probe = (name: string, wantPath: string) => {
      const pr = c[name] as Obj | undefined;
      t.ok(pr?.httpGet, `${name} is an HTTP GET`);
      t.equal(pr?.httpGet?.path, wantPath, `${name} asks ${wantPath}`);
      t.equal(resolve(pr?.httpGet?.port), port, `${name} on Spillway's port`);
    };
    probe('livenessProbe', '/-/healthy');
    probe('readinessProbe', '/-/ready');
    if (c.startupProbe) probe('startupProbe', '/-/healthy');
    for (const svc of of('Service')) {
      t.ok(matches(svc.spec.selector, podLabels), `Service ${svc.metadata.name} selects the Spillway pods`);
      for (const p of svc.spec.ports as Obj[]) t.equal(resolve(p.targetPort), port, `Service ${svc.metadata.name} targets port ${port}`);
    }
    const headless = of('Service').find((s) => s.metadata.name === sts.spec.serviceName);
    t.equal(headless?.spec?.clusterIP, 'None', `serviceName ${sts.spec.serviceName} is a headless Service`);
    t.ok(of('Service').some((s) => s.spec.clusterIP !== 'None'), 'and a client Service');
    const ann = sts.spec.template.metadata.annotations ?? {};
    if (ann['prometheus.io/port']) t.equal(Number(ann['prometheus.io/port']), port, 'scrape annotation port');
  });

  t.test('PodDisruptionBudget, resources, security', async (t) => {
    const pdb = of('PodDisruptionBudget')[0];
    t.ok(pdb, 'a PodDisruptionBudget');
    t.ok(matches(pdb?.spec?.selector?.matchLabels, podLabels), 'it selects the Spillway pods');
    t.ok(pdb?.spec?.maxUnavailable !== undefined || pdb?.spec?.minAvailable !== undefined, 'with a budget');
    t.ok(matches(sts.spec.selector.matchLabels, podLabels), 'the StatefulSet selector matches its pods');
    t.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, 'cpu and memory requests');
    const sc = pod.securityContext ?? {};
    const csc = c.securityContext ?? {};
    t.equal(csc.runAsNonRoot ?? sc.runAsNonRoot, true, 'runAsNonRoot');
    t.not(csc.runAsUser ?? sc.runAsUser, 0, 'not uid 0');
    t.ok(sc.fsGroup !== undefined, 'fsGroup: the PVC is writable by the non-root user');
    t.equal(csc.allowPrivilegeEscalation, false, 'no privilege escalation');
    t.same(csc.capabilities?.drop, ['ALL'], 'all capabilities dropped');
  });
}

const targets = [BASE, ...OVERLAYS];
for (const dir of targets) {
  t.test(rel(dir), async (t) => {
    const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
    for (const f of files) t.doesNotThrow(() => loadYamlAll(path.join(dir, f)), `${f} parses`);
    const k = loadYaml<Obj>(path.join(dir, 'kustomization.yaml'));
    for (const r of (k.resources ?? []) as string[]) t.ok(existsSync(path.resolve(dir, r)), `resource ${r} exists`);
    for (const o of files.filter((f) => f !== 'kustomization.yaml').flatMap((f) => loadYamlAll(path.join(dir, f)) as Obj[])) {
      t.ok(o.apiVersion && o.kind && o.metadata?.name, `${o.kind}/${o.metadata?.name} has apiVersion, kind, name`);
    }
    t.test('built-in render', async (t) => contracts(t, renderBuiltin(dir), 'built-in render'));
    if (KUBECTL) t.test('kubectl kustomize', async (t) => contracts(t, renderKubectl(dir), 'kubectl kustomize'));
    else t.comment('kubectl not installed: rendered with the built-in renderer only');
  });
}

t.test('the base storage flags are changed only through overlays', async (t) => {
  t.ok(OVERLAYS.some((d) => path.basename(d) === 'vm-cluster'), 'a vm-cluster overlay');
  const base = renderBuiltin(BASE).find((o) => o.kind === 'StatefulSet')!;
  const cluster = renderBuiltin(path.join(K8S, 'overlays', 'vm-cluster')).find((o) => o.kind === 'StatefulSet')!;
  const nodeArgs = (o: Obj) => (o.spec.template.spec.containers[0].args as string[]).filter((a) => /^-(storageNode|remoteWrite\.url)=/.test(a));
  t.notSame(nodeArgs(cluster), nodeArgs(base), 'the vm-cluster overlay names other storage nodes');
  t.ok(nodeArgs(cluster).every((a) => /vmstorage|vminsert/.test(a)), 'VictoriaMetrics cluster components');
});
